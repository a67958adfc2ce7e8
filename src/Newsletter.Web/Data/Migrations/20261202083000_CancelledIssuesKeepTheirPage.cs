using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations;

/// <summary>
/// A cancelled issue that reached readers keeps its web page (their emails link to it, and the archive's numbers
/// count it); one that reached nobody, or that the author takes off the site, has no PublishedAt. No column
/// changes: existing cancelled issues that reached nobody lose their PublishedAt, the others come back, and
/// search's issue triggers learn that Cancelled (6) can be public.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202083000_CancelledIssuesKeepTheirPage")]
public sealed class CancelledIssuesKeepTheirPage : Migration
{
    // IssueStatus: Sending = 3, Sent = 4, Paused = 5, Cancelled = 6. DeliveryStatus: Sent = 2, Held = 6.
    private const string IssueIsPublic = "new.PublishedAt IS NOT NULL AND new.EmailOnly = 0 AND new.DeletedAt IS NULL AND new.Status IN (3, 4, 5, 6)";

    private const string OldIssueIsPublic = "new.PublishedAt IS NOT NULL AND new.EmailOnly = 0 AND new.DeletedAt IS NULL AND new.Status IN (3, 4, 5)";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            UPDATE Issues SET PublishedAt = NULL
            WHERE Status = 6 AND NOT EXISTS (SELECT 1 FROM Deliveries d WHERE d.IssueId = Issues.Id AND (d.Status IN (2, 6) OR d.Uncertain = 1));
            """);
        Replace(migrationBuilder, IssueIsPublic);
        migrationBuilder.Sql(Search.IssueBackfill(IssueIsPublic));
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        Replace(migrationBuilder, OldIssueIsPublic);
        migrationBuilder.Sql("DELETE FROM SearchIndex WHERE rowid % 2 = 1 AND rowid / 2 IN (SELECT Id FROM Issues WHERE Status = 6);");
    }

    private static void Replace(MigrationBuilder migrationBuilder, string isPublic)
    {
        migrationBuilder.Sql("DROP TRIGGER IF EXISTS Issues_SearchInsert; DROP TRIGGER IF EXISTS Issues_SearchUpdate;");
        foreach (var sql in Search.IssueTriggers(isPublic))
        {
            migrationBuilder.Sql(sql);
        }
    }
}
