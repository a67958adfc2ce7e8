using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations
{
    /// <summary>
    /// The model no longer has a foreign key from Deliveries to Issues (on PostgreSQL its per-row check was half
    /// of a million-reader snapshot); SQLite rebuilds the table at the end of this migration, and the next one,
    /// DeliveriesIssueTriggers, puts the same rules back as triggers.
    /// </summary>
    public partial class DeliveriesIssueCheck : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_Deliveries_Issues_IssueId",
                table: "Deliveries");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddForeignKey(
                name: "FK_Deliveries_Issues_IssueId",
                table: "Deliveries",
                column: "IssueId",
                principalTable: "Issues",
                principalColumn: "Id",
                onDelete: ReferentialAction.Cascade);
        }
    }
}
