using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class KeyedAddressHashes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "LegacyHash",
                table: "Suppressions",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            // Every hash written so far is a plain SHA-256 of the address; the app re-keys these at start-up
            // (AddressHashes.UpgradeLegacyAsync). New rows get the column's default: already keyed.
            migrationBuilder.Sql("UPDATE \"Suppressions\" SET \"LegacyHash\" = TRUE;");

            migrationBuilder.CreateIndex(
                name: "IX_Suppressions_LegacyHash",
                table: "Suppressions",
                column: "LegacyHash",
                filter: "\"LegacyHash\"");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Suppressions_LegacyHash",
                table: "Suppressions");

            migrationBuilder.DropColumn(
                name: "LegacyHash",
                table: "Suppressions");
        }
    }
}
