using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class DeliveryInFlight : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "InFlight",
                table: "Deliveries",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            // Rows a running send holds were claimed by a version that recorded outcomes per batch: any of
            // them may have been sent, so they count as in flight if that send was cut short.
            migrationBuilder.Sql("""UPDATE "Deliveries" SET "InFlight" = TRUE WHERE "Status" = 1""");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "InFlight",
                table: "Deliveries");
        }
    }
}
