using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql;

/// <summary>
/// Subscribers per status, the table Subscribers/SubscriberCounts.cs reads (the SQLite set keeps it with row
/// triggers). Here the triggers run once per statement over its transition tables, so an import that
/// writes a million readers in one statement adds to each count once instead of a million times; an update
/// that changes no status touches no count row. Count rows are changed in status order, so two statements
/// that change several counts cannot deadlock on them.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202011801_SubscriberCounts")]
public sealed class SubscriberCounts : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE "SubscriberCounts" ("Status" integer PRIMARY KEY, "Count" bigint NOT NULL);
            INSERT INTO "SubscriberCounts" ("Status", "Count") SELECT "Status", count(*) FROM "Subscribers" GROUP BY "Status";

            CREATE FUNCTION "Subscribers_Count"() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO "SubscriberCounts" AS c ("Status", "Count")
                    SELECT "Status", count(*) FROM new_rows GROUP BY "Status" ORDER BY "Status"
                    ON CONFLICT ("Status") DO UPDATE SET "Count" = c."Count" + excluded."Count";
                ELSIF TG_OP = 'DELETE' THEN
                    INSERT INTO "SubscriberCounts" AS c ("Status", "Count")
                    SELECT "Status", -count(*) FROM old_rows GROUP BY "Status" ORDER BY "Status"
                    ON CONFLICT ("Status") DO UPDATE SET "Count" = c."Count" + excluded."Count";
                ELSE
                    INSERT INTO "SubscriberCounts" AS c ("Status", "Count")
                    SELECT d."Status", sum(d."Delta") FROM (
                        SELECT n."Status", 1 AS "Delta" FROM old_rows o JOIN new_rows n ON n."Id" = o."Id" WHERE o."Status" <> n."Status"
                        UNION ALL
                        SELECT o."Status", -1 FROM old_rows o JOIN new_rows n ON n."Id" = o."Id" WHERE o."Status" <> n."Status"
                    ) AS d
                    GROUP BY d."Status" HAVING sum(d."Delta") <> 0 ORDER BY d."Status"
                    ON CONFLICT ("Status") DO UPDATE SET "Count" = c."Count" + excluded."Count";
                END IF;
                RETURN NULL;
            END
            $fn$;

            CREATE TRIGGER "Subscribers_CountInsert" AFTER INSERT ON "Subscribers"
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "Subscribers_Count"();
            CREATE TRIGGER "Subscribers_CountUpdate" AFTER UPDATE ON "Subscribers"
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "Subscribers_Count"();
            CREATE TRIGGER "Subscribers_CountDelete" AFTER DELETE ON "Subscribers"
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "Subscribers_Count"();
            """);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            DROP TRIGGER IF EXISTS "Subscribers_CountInsert" ON "Subscribers";
            DROP TRIGGER IF EXISTS "Subscribers_CountUpdate" ON "Subscribers";
            DROP TRIGGER IF EXISTS "Subscribers_CountDelete" ON "Subscribers";
            DROP FUNCTION IF EXISTS "Subscribers_Count"();
            DROP TABLE IF EXISTS "SubscriberCounts";
            """);
    }
}
