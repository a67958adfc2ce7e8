using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Tests.Infrastructure;

public class SharedRateLimiterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoNodesTakingPermitsAtOnceShareOneLimitBetweenThem()
    {
        using var nodeA = new NewsletterApp();
        using var nodeB = new NewsletterApp(nodeA.SecondNode());
        var limit = new RateLimit("test", Permits: 7, Window: TimeSpan.FromHours(1));
        // Started before the threads race (WebApplicationFactory starts a host lazily and not thread-safely).
        _ = nodeA.Services;
        _ = nodeB.Services;

        async Task<bool> TakeAsync(NewsletterApp node)
        {
            await using var scope = node.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<SharedRateLimiter>().TryAcquireAsync(limit, "203.0.113.9", Ct);
        }

        var taken = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => TakeAsync(i % 2 == 0 ? nodeA : nodeB), Ct)));
        Assert.Equal(7, taken.Count(t => t));
    }

    [Fact]
    public async Task PartitionsAndWindowsCountApartEndedWindowsArePrunedAndNoAddressIsStored()
    {
        using var app = new NewsletterApp();
        var clock = new SteppedClock(new DateTimeOffset(2030, 1, 1, 12, 0, 30, TimeSpan.Zero));
        var limit = new RateLimit("per-address", Permits: 2, Window: TimeSpan.FromMinutes(1));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var limiter = new SharedRateLimiter(db, clock);

        Assert.True(await limiter.TryAcquireAsync(limit, "reader@example.org", Ct));
        Assert.True(await limiter.TryAcquireAsync(limit, "reader@example.org", Ct));
        Assert.False(await limiter.TryAcquireAsync(limit, "reader@example.org", Ct));
        Assert.True(await limiter.TryAcquireAsync(limit, "other@example.org", Ct));
        Assert.True(await limiter.TryAcquireAsync(limit with { Name = "another-limit" }, "reader@example.org", Ct));

        // The next minute is a new window; opening one drops windows that ended (far enough on to pass the
        // once-a-minute pruning memo whatever other tests left in it).
        clock.Now = clock.Now.AddDays(1);
        Assert.True(await limiter.TryAcquireAsync(limit, "reader@example.org", Ct));
        var rows = await db.RateLimitWindows.AsNoTracking().ToListAsync(Ct);
        var row = Assert.Single(rows);
        Assert.Equal(SharedRateLimiter.KeyOf("per-address", "reader@example.org"), row.Key);
        Assert.DoesNotContain("example.org", row.Key, StringComparison.Ordinal);
    }
}
