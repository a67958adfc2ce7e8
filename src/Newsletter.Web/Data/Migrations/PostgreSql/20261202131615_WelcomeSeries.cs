using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class WelcomeSeries : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "WelcomeDeliveries",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    StepId = table.Column<int>(type: "integer", nullable: false),
                    SubscriberId = table.Column<long>(type: "bigint", nullable: false),
                    Status = table.Column<int>(type: "integer", nullable: false),
                    Attempts = table.Column<int>(type: "integer", nullable: false),
                    LeaseOwner = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: true),
                    LeaseExpiresAtMs = table.Column<long>(type: "bigint", nullable: false),
                    NextAttemptAtMs = table.Column<long>(type: "bigint", nullable: false),
                    InFlight = table.Column<bool>(type: "boolean", nullable: false),
                    Uncertain = table.Column<bool>(type: "boolean", nullable: false),
                    CreatedAtMs = table.Column<long>(type: "bigint", nullable: false),
                    FinishedAtMs = table.Column<long>(type: "bigint", nullable: true),
                    SmtpCode = table.Column<int>(type: "integer", nullable: true),
                    LastError = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WelcomeDeliveries", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "WelcomeReaders",
                columns: table => new
                {
                    SubscriberId = table.Column<long>(type: "bigint", nullable: false),
                    JoinedAtMs = table.Column<long>(type: "bigint", nullable: false),
                    LeftAtMs = table.Column<long>(type: "bigint", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WelcomeReaders", x => x.SubscriberId);
                });

            migrationBuilder.CreateTable(
                name: "WelcomeSeries",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false),
                    Paused = table.Column<bool>(type: "boolean", nullable: false),
                    ChangedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WelcomeSeries", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "WelcomeSteps",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Position = table.Column<int>(type: "integer", nullable: false),
                    DelayDays = table.Column<int>(type: "integer", nullable: false),
                    NoteSlug = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    Subject = table.Column<string>(type: "character varying(300)", maxLength: 300, nullable: false),
                    Markdown = table.Column<string>(type: "text", nullable: false),
                    Html = table.Column<string>(type: "text", nullable: false),
                    UpdatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    RemovedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WelcomeSteps", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_WelcomeDeliveries_Status_NextAttemptAtMs",
                table: "WelcomeDeliveries",
                columns: new[] { "Status", "NextAttemptAtMs" });

            migrationBuilder.CreateIndex(
                name: "IX_WelcomeDeliveries_StepId_SubscriberId",
                table: "WelcomeDeliveries",
                columns: new[] { "StepId", "SubscriberId" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_WelcomeDeliveries_SubscriberId",
                table: "WelcomeDeliveries",
                column: "SubscriberId");

            migrationBuilder.CreateIndex(
                name: "IX_WelcomeSteps_Position",
                table: "WelcomeSteps",
                column: "Position");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "WelcomeDeliveries");

            migrationBuilder.DropTable(
                name: "WelcomeReaders");

            migrationBuilder.DropTable(
                name: "WelcomeSeries");

            migrationBuilder.DropTable(
                name: "WelcomeSteps");
        }
    }
}
