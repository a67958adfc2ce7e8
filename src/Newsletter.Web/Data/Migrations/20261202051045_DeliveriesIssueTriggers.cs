using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations;

/// <summary>
/// What the foreign key from Deliveries to Issues did, as row triggers (SQLite has no statement triggers): a
/// delivery names an existing issue, and deleting an issue deletes its deliveries. A migration of its own because
/// EF rebuilds a SQLite table at the end of the migration that changes it, and a rebuild drops the table's
/// triggers; a later rebuild of Deliveries or Issues must create these again.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202051045_DeliveriesIssueTriggers")]
public sealed class DeliveriesIssueTriggers : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TRIGGER "Deliveries_IssueExists" BEFORE INSERT ON "Deliveries"
            WHEN NOT EXISTS (SELECT 1 FROM "Issues" WHERE "Id" = NEW."IssueId")
            BEGIN SELECT RAISE(ABORT, 'a delivery names an issue that does not exist'); END;
            CREATE TRIGGER "Deliveries_IssueUpdated" BEFORE UPDATE OF "IssueId" ON "Deliveries"
            WHEN NOT EXISTS (SELECT 1 FROM "Issues" WHERE "Id" = NEW."IssueId")
            BEGIN SELECT RAISE(ABORT, 'a delivery names an issue that does not exist'); END;
            CREATE TRIGGER "Issues_DeleteDeliveries" AFTER DELETE ON "Issues"
            BEGIN DELETE FROM "Deliveries" WHERE "IssueId" = OLD."Id"; END;
            """);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            DROP TRIGGER "Issues_DeleteDeliveries";
            DROP TRIGGER "Deliveries_IssueUpdated";
            DROP TRIGGER "Deliveries_IssueExists";
            """);
    }
}
