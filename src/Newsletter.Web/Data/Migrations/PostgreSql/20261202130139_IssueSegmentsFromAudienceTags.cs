using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql;

/// <summary>
/// An issue's one audience tag becomes a segment of that topic (readers with the tag), so a scheduled issue goes to
/// the same readers after the upgrade. Runs after IssueSegments added the column; the old column stays, unused.
/// Both databases read the same SQL: || concatenation and REPLACE, escaping what JSON must escape.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202130139_IssueSegmentsFromAudienceTags")]
public sealed class IssueSegmentsFromAudienceTags : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder) => migrationBuilder.Sql("""
        UPDATE "Issues"
        SET "Segment" = '{"topics":["' || REPLACE(REPLACE("AudienceTag", '\', '\\'), '"', '\"') || '"],"match":"Any"}'
        WHERE "AudienceTag" IS NOT NULL AND "AudienceTag" <> '' AND ("Segment" IS NULL OR "Segment" = '' OR "Segment" = '{}');
        """);

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        // The old column was never cleared: going back needs nothing.
    }
}
