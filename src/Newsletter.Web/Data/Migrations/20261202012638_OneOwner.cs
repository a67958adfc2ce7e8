using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class OneOwner : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // A site that two racing setup posts gave two owners keeps the first; the other account stays, as a
            // co-author. Plain SQL that SQLite and PostgreSQL read alike.
            migrationBuilder.Sql("""
                UPDATE "AspNetUsers" SET "IsOwner" = FALSE
                WHERE "IsOwner" AND "Id" <> (SELECT "Id" FROM "AspNetUsers" WHERE "IsOwner" ORDER BY "CreatedAt", "Id" LIMIT 1);
                """);
            migrationBuilder.CreateIndex(
                name: "IX_AspNetUsers_OneOwner",
                table: "AspNetUsers",
                column: "IsOwner",
                unique: true,
                filter: "\"IsOwner\"");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_AspNetUsers_OneOwner",
                table: "AspNetUsers");
        }
    }
}
