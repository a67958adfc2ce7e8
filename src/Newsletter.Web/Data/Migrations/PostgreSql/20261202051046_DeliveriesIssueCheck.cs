using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql
{
    /// <summary>
    /// The foreign key from Deliveries to Issues gives way to two triggers that keep the same rules for less:
    /// its check ran once per inserted row (1,000,000 trigger calls, half of a million-reader snapshot's
    /// time), where the insert check here runs once per statement over the statement's transition table.
    /// Deleting an issue still deletes its deliveries (the app only deletes drafts, which have none).
    /// </summary>
    public partial class DeliveriesIssueCheck : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_Deliveries_Issues_IssueId",
                table: "Deliveries");

            migrationBuilder.Sql("""
                CREATE FUNCTION "Deliveries_IssueExists"() RETURNS trigger LANGUAGE plpgsql AS $fn$
                BEGIN
                    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT "IssueId" FROM new_rows) n
                               WHERE NOT EXISTS (SELECT 1 FROM "Issues" i WHERE i."Id" = n."IssueId" FOR KEY SHARE)) THEN
                        RAISE EXCEPTION 'a delivery names an issue that does not exist' USING ERRCODE = 'foreign_key_violation';
                    END IF;
                    RETURN NULL;
                END $fn$;
                CREATE TRIGGER "Deliveries_IssueExists" AFTER INSERT ON "Deliveries"
                    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "Deliveries_IssueExists"();
                -- The app never moves a delivery to another issue; should anything do so, each row is checked. A
                -- statement trigger with a transition table can't be limited to one column, and would copy every
                -- outcome write's rows.
                CREATE FUNCTION "Deliveries_IssueUpdated"() RETURNS trigger LANGUAGE plpgsql AS $fn$
                BEGIN
                    IF NOT EXISTS (SELECT 1 FROM "Issues" i WHERE i."Id" = NEW."IssueId" FOR KEY SHARE) THEN
                        RAISE EXCEPTION 'a delivery names an issue that does not exist' USING ERRCODE = 'foreign_key_violation';
                    END IF;
                    RETURN NEW;
                END $fn$;
                CREATE TRIGGER "Deliveries_IssueUpdated" BEFORE UPDATE OF "IssueId" ON "Deliveries"
                    FOR EACH ROW EXECUTE FUNCTION "Deliveries_IssueUpdated"();

                CREATE FUNCTION "Issues_DeleteDeliveries"() RETURNS trigger LANGUAGE plpgsql AS $fn$
                BEGIN
                    DELETE FROM "Deliveries" d USING old_rows o WHERE d."IssueId" = o."Id";
                    RETURN NULL;
                END $fn$;
                CREATE TRIGGER "Issues_DeleteDeliveries" AFTER DELETE ON "Issues"
                    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "Issues_DeleteDeliveries"();
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP TRIGGER "Issues_DeleteDeliveries" ON "Issues";
                DROP FUNCTION "Issues_DeleteDeliveries"();
                DROP TRIGGER "Deliveries_IssueUpdated" ON "Deliveries";
                DROP FUNCTION "Deliveries_IssueUpdated"();
                DROP TRIGGER "Deliveries_IssueExists" ON "Deliveries";
                DROP FUNCTION "Deliveries_IssueExists"();
                """);

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
