using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations
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
                type: "TEXT",
                maxLength: 1000,
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "NotMailed",
                table: "SubscriberImports",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "Platform",
                table: "SubscriberImports",
                type: "TEXT",
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
