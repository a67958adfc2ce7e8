using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations
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
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    StepId = table.Column<int>(type: "INTEGER", nullable: false),
                    SubscriberId = table.Column<long>(type: "INTEGER", nullable: false),
                    Status = table.Column<int>(type: "INTEGER", nullable: false),
                    Attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    LeaseOwner = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    LeaseExpiresAtMs = table.Column<long>(type: "INTEGER", nullable: false),
                    NextAttemptAtMs = table.Column<long>(type: "INTEGER", nullable: false),
                    InFlight = table.Column<bool>(type: "INTEGER", nullable: false),
                    Uncertain = table.Column<bool>(type: "INTEGER", nullable: false),
                    CreatedAtMs = table.Column<long>(type: "INTEGER", nullable: false),
                    FinishedAtMs = table.Column<long>(type: "INTEGER", nullable: true),
                    SmtpCode = table.Column<int>(type: "INTEGER", nullable: true),
                    LastError = table.Column<string>(type: "TEXT", maxLength: 1000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WelcomeDeliveries", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "WelcomeReaders",
                columns: table => new
                {
                    SubscriberId = table.Column<long>(type: "INTEGER", nullable: false),
                    JoinedAtMs = table.Column<long>(type: "INTEGER", nullable: false),
                    LeftAtMs = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WelcomeReaders", x => x.SubscriberId);
                });

            migrationBuilder.CreateTable(
                name: "WelcomeSeries",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false),
                    Paused = table.Column<bool>(type: "INTEGER", nullable: false),
                    ChangedAt = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WelcomeSeries", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "WelcomeSteps",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Position = table.Column<int>(type: "INTEGER", nullable: false),
                    DelayDays = table.Column<int>(type: "INTEGER", nullable: false),
                    NoteSlug = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    Subject = table.Column<string>(type: "TEXT", maxLength: 300, nullable: false),
                    Markdown = table.Column<string>(type: "TEXT", nullable: false),
                    Html = table.Column<string>(type: "TEXT", nullable: false),
                    UpdatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    RemovedAt = table.Column<DateTime>(type: "TEXT", nullable: true)
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
