using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class SendNodes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "SendNodes",
                columns: table => new
                {
                    Id = table.Column<string>(type: "character varying(80)", maxLength: 80, nullable: false),
                    Machine = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    ProcessId = table.Column<int>(type: "integer", nullable: false),
                    StartedAtMs = table.Column<long>(type: "bigint", nullable: false),
                    HeartbeatAtMs = table.Column<long>(type: "bigint", nullable: false),
                    RelayFailingSinceMs = table.Column<long>(type: "bigint", nullable: true),
                    RelayError = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_SendNodes", x => x.Id);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "SendNodes");
        }
    }
}
