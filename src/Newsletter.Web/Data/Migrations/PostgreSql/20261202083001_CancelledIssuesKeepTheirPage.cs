using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql;

/// <summary>
/// A cancelled issue that reached readers keeps its web page (their emails link to it, and the archive's numbers
/// count it); one that reached nobody, or that the author takes off the site, has no PublishedAt. No column
/// changes: existing cancelled issues that reached nobody lose their PublishedAt, the others come back, and
/// search's issue trigger learns that Cancelled can be public.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202083001_CancelledIssuesKeepTheirPage")]
public sealed class CancelledIssuesKeepTheirPage : Migration
{
    private static string IsPublic(params IssueStatus[] statuses) =>
        $"""NEW."PublishedAt" IS NOT NULL AND NOT NEW."EmailOnly" AND NEW."DeletedAt" IS NULL AND NEW."Status" IN ({string.Join(", ", statuses.Select(s => (int)s))})""";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql($"""
            UPDATE "Issues" i SET "PublishedAt" = NULL
            WHERE i."Status" = {(int)IssueStatus.Cancelled} AND NOT EXISTS (SELECT 1 FROM "Deliveries" d WHERE d."IssueId" = i."Id"
                AND (d."Status" IN ({(int)DeliveryStatus.Sent}, {(int)DeliveryStatus.Held}) OR d."Uncertain"));
            """);
        migrationBuilder.Sql(Search.Function("Issues", "IssueTags", "IssueId", "1", "Subject",
            IsPublic(IssueStatus.Sending, IssueStatus.Sent, IssueStatus.Paused, IssueStatus.Cancelled)));
        // Cancelled issues that stay public enter the index: touching them runs the new trigger.
        migrationBuilder.Sql($"""UPDATE "Issues" SET "PublishedAt" = "PublishedAt" WHERE "Status" = {(int)IssueStatus.Cancelled} AND "PublishedAt" IS NOT NULL;""");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql(Search.Function("Issues", "IssueTags", "IssueId", "1", "Subject",
            IsPublic(IssueStatus.Sending, IssueStatus.Sent, IssueStatus.Paused)));
        migrationBuilder.Sql($"""UPDATE "Issues" SET "PublishedAt" = "PublishedAt" WHERE "Status" = {(int)IssueStatus.Cancelled};""");
    }
}
