using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class ImportsFromOtherPlatforms : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Mapping",
                table: "SubscriberImports",
                type: "character varying(1000)",
                maxLength: 1000,
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "NotMailed",
                table: "SubscriberImports",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "Platform",
                table: "SubscriberImports",
                type: "character varying(40)",
                maxLength: 40,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Mapping",
                table: "SubscriberImports");

            migrationBuilder.DropColumn(
                name: "NotMailed",
                table: "SubscriberImports");

            migrationBuilder.DropColumn(
                name: "Platform",
                table: "SubscriberImports");
        }
    }
}
