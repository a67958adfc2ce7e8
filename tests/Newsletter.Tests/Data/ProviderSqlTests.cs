using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Data;

/// <summary>
/// The provider-specific classes of Data/Providers, each on the database of the project that runs it:
/// SQLite in Newsletter.Tests, PostgreSQL in Newsletter.Tests.PostgreSql.
/// </summary>
public class ProviderSqlTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>EF wraps a unique violation from SaveChanges but not from ExecuteUpdate: both are recognised, other errors are not.</summary>
    [Fact]
    public async Task AUniqueViolationIsRecognisedFromSaveChangesAndFromASetBasedUpdate()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        db.Issues.AddRange(new Issue { Slug = "one", Subject = "One", Number = 1 }, new Issue { Slug = "two", Subject = "Two" });
        await db.SaveChangesAsync(Ct);

        db.Issues.Add(new Issue { Slug = "one", Subject = "Again" });
        var saved = await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync(Ct));
        Assert.True(db.IsUniqueViolation(saved));
        db.ChangeTracker.Clear();

        var updated = await Assert.ThrowsAnyAsync<Exception>(() => db.Issues.Where(i => i.Slug == "two").ExecuteUpdateAsync(u => u.SetProperty(i => i.Number, 1), Ct));
        Assert.IsNotType<DbUpdateException>(updated);
        Assert.True(db.IsUniqueViolation(updated));

        db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = 424242, Source = "test" });
        var orphan = await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync(Ct));
        Assert.False(db.IsUniqueViolation(orphan));
    }

    /// <summary>The counts the subscribers page shows stay exact whichever way a row changes, one row or many at a time.</summary>
    [Fact]
    public async Task SubscriberCountsStayExactThroughInsertsUpdatesRawSqlAndDeletes()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        async Task AssertExactAsync()
        {
            var counted = await db.Subscribers.GroupBy(s => s.Status).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, Ct);
            Assert.Equal(counted.OrderBy(c => c.Key), (await SubscriberCounts.ReadAsync(db, Ct)).OrderBy(c => c.Key));
        }

        db.Subscribers.AddRange(Enumerable.Range(0, 12).Select(i => new Subscriber
        {
            Email = $"r{i}@example.org", EmailKey = $"r{i}@example.org", Source = "test", Status = i < 8 ? SubscriberStatus.Active : SubscriberStatus.Pending,
        }));
        await db.SaveChangesAsync(Ct);
        await AssertExactAsync();

        await db.Subscribers.Where(s => s.EmailKey == "r0@example.org" || s.EmailKey == "r9@example.org")
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Unsubscribed), Ct);
        await db.Database.ExecuteSqlAsync($"""UPDATE "Subscribers" SET "Status" = {(int)SubscriberStatus.Bounced} WHERE "EmailKey" = 'r1@example.org'""", Ct);
        await db.Subscribers.Where(s => s.EmailKey == "r2@example.org").ExecuteUpdateAsync(u => u.SetProperty(s => s.Name, "no status change"), Ct);
        await db.Subscribers.Where(s => s.Status == SubscriberStatus.Pending).ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Active), Ct);
        await db.Subscribers.Where(s => s.EmailKey == "r3@example.org" || s.EmailKey == "r4@example.org").ExecuteDeleteAsync(Ct);
        await AssertExactAsync();

        var counts = await SubscriberCounts.ReadAsync(db, Ct);
        Assert.Equal(7, counts[SubscriberStatus.Active]);
        Assert.Equal(1, counts[SubscriberStatus.Bounced]);
        Assert.False(counts.ContainsKey(SubscriberStatus.Pending));
    }

    /// <summary>The chart counts active readers by the UTC day they confirmed.</summary>
    [Fact]
    public async Task ConfirmationsAreCountedByUtcDay()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var day = new DateTime(2026, 11, 3, 0, 0, 0, DateTimeKind.Utc);
        Subscriber Reader(string key, DateTime confirmed, SubscriberStatus status = SubscriberStatus.Active) =>
            new() { Email = key, EmailKey = key, Source = "test", Status = status, ConfirmedAt = confirmed };
        db.Subscribers.AddRange(
            Reader("early@example.org", day.AddSeconds(1)),
            Reader("late@example.org", day.AddHours(23).AddMinutes(59)),
            Reader("next@example.org", day.AddDays(1)),
            Reader("left@example.org", day.AddHours(3), SubscriberStatus.Unsubscribed),
            Reader("before@example.org", day.AddDays(-10)));
        await db.SaveChangesAsync(Ct);

        var byDay = await scope.ServiceProvider.GetRequiredService<SubscriberGrowth>().ConfirmedPerDayAsync(db, day.AddDays(-1), Ct);
        Assert.Equal(new Dictionary<DateTime, int> { [day] = 2, [day.AddDays(1)] = 1 }, byDay);
    }
}
