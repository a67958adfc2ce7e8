using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations;

/// <summary>
/// Subscribers per status, kept by triggers in the same transaction as every insert, status change and
/// delete, whoever makes it (EF, the importer's prepared statements, the sending engine's raw SQL). The
/// subscribers page shows these counts on every visit; counting a million rows for them took most of its time.
/// Not an EF entity: it is read with one SQL query (Subscribers/SubscriberCounts.cs) and has no model to drift.
/// </summary>
public partial class SubscriberCounts : Migration
{
    private const string CountNew = "INSERT INTO SubscriberCounts (Status, Count) VALUES (new.Status, 1) ON CONFLICT (Status) DO UPDATE SET Count = Count + 1;";
    private const string UncountOld = "UPDATE SubscriberCounts SET Count = Count - 1 WHERE Status = old.Status;";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        if (!migrationBuilder.IsSqlite())
        {
            return;
        }

        migrationBuilder.Sql("""
            CREATE TABLE SubscriberCounts (Status INTEGER NOT NULL PRIMARY KEY, Count INTEGER NOT NULL);
            INSERT INTO SubscriberCounts (Status, Count) SELECT Status, COUNT(*) FROM Subscribers GROUP BY Status;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER Subscribers_CountInsert AFTER INSERT ON Subscribers
            BEGIN
                {CountNew}
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER Subscribers_CountUpdate AFTER UPDATE OF Status ON Subscribers WHEN old.Status <> new.Status
            BEGIN
                {UncountOld}
                {CountNew}
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER Subscribers_CountDelete AFTER DELETE ON Subscribers
            BEGIN
                {UncountOld}
            END;
            """);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        if (!migrationBuilder.IsSqlite())
        {
            return;
        }

        migrationBuilder.Sql("""
            DROP TRIGGER IF EXISTS Subscribers_CountInsert;
            DROP TRIGGER IF EXISTS Subscribers_CountUpdate;
            DROP TRIGGER IF EXISTS Subscribers_CountDelete;
            DROP TABLE IF EXISTS SubscriberCounts;
            """);
    }
}
