using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Segments;

namespace Newsletter.Tests.Segments;

/// <summary>An issue scheduled for one tag before the upgrade goes to the same readers after it.</summary>
public class SegmentMigrationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite, "20261202090030_IssueLinks")]
    [InlineData(DatabaseProvider.PostgreSql, "20261202090222_IssueLinks")]
    public async Task AnOldAudienceTagBecomesAOneTopicSegment(DatabaseProvider provider, string before)
    {
        var folder = RepoPaths.TempDir("segment-migration");
        var connectionString = provider == DatabaseProvider.PostgreSql
            ? TestDatabases.CreateEmptyPostgres()
            : $"Data Source={Path.Combine(folder, "old.db")};Pooling=false";
        try
        {
            var options = new DbContextOptionsBuilder<AppDbContext>();
            options.UseDatabase(provider, connectionString);
            await using var db = new AppDbContext(options.Options);
            await db.GetService<IMigrator>().MigrateAsync(before, cancellationToken: Ct);
            var at = DateTime.UtcNow;
            foreach (var (slug, tag) in new[] { ("tagged", "beta"), ("for-all", (string?)null) })
            {
                await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO "Issues" ("Slug", "Subject", "Preheader", "Summary", "Markdown", "Html", "PlainText", "Status", "AudienceTag", "WebOnly", "EmailOnly", "RecipientCount", "CreatedAt", "UpdatedAt")
                    VALUES ({slug}, {slug}, '', '', '', '', '', 1, {tag}, FALSE, FALSE, 0, {at}, {at})
                    """, Ct);
            }

            await db.Database.MigrateAsync(Ct);
            var segments = await db.Issues.AsNoTracking().OrderBy(i => i.Slug).Select(i => new { i.Slug, i.Segment }).ToListAsync(Ct);
            Assert.True(segments.Single(s => s.Slug == "for-all").Segment.IsEveryone);
            var tagged = segments.Single(s => s.Slug == "tagged").Segment;
            Assert.Equal(["beta"], tagged.Topics);
            Assert.Equal(TopicMatch.Any, tagged.Match);
        }
        finally
        {
            if (provider == DatabaseProvider.PostgreSql)
            {
                TestDatabases.Drop(connectionString);
            }

            Directory.Delete(folder, recursive: true);
        }
    }
}
