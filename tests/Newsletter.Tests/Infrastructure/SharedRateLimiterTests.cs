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

    [Fact]
    public async Task ABatchGrantsEachPartitionInRequestOrderUntilItsWindowIsFull()
    {
        using var app = new NewsletterApp();
        var clock = new SteppedClock(new DateTimeOffset(2030, 1, 1, 12, 0, 30, TimeSpan.Zero));
        var limit = new RateLimit("per-address", Permits: 3, Window: TimeSpan.FromHours(1));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var limiter = new SharedRateLimiter(db, clock);
        Assert.True(await limiter.TryAcquireAsync(limit, "b", Ct));
        Assert.True(await limiter.TryAcquireAsync(limit, "b", Ct));

        async Task<bool[]> BatchAsync(params string?[] partitions)
        {
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            var granted = await limiter.TryAcquireEachAsync(limit, partitions, Ct);
            await tx.CommitAsync(Ct);
            return granted;
        }

        // "a" fits three of its four, "b" one of three (two were taken before), "c" its one; "d" asks more than
        // the limit could ever hold at once, so it is asked request by request; a null asks for nothing.
        var first = await BatchAsync("a", "b", "a", "b", null, "a", "a", "c", "d", "d", "d", "d", "b", "d");
        Assert.Equal(new[] { true, true, true, false, false, true, false, true, true, true, true, false, false, false }, first);
        var second = await BatchAsync("a", "c", "c", "c");
        Assert.Equal(new[] { false, true, true, false }, second);

        var counts = await db.RateLimitWindows.AsNoTracking().ToDictionaryAsync(w => w.Key, w => w.Count, Ct);
        Assert.Equal(3, counts[SharedRateLimiter.KeyOf("per-address", "a")]);
        Assert.Equal(3, counts[SharedRateLimiter.KeyOf("per-address", "b")]);
        Assert.Equal(3, counts[SharedRateLimiter.KeyOf("per-address", "c")]);
        Assert.Equal(3, counts[SharedRateLimiter.KeyOf("per-address", "d")]);
        Assert.Equal(4, counts.Count);
    }

    [Fact]
    public async Task TwoNodesTakingPermitsInBatchesAtOnceShareOneLimitAndEachBatchGetsAPrefix()
    {
        using var nodeA = new NewsletterApp();
        using var nodeB = new NewsletterApp(nodeA.SecondNode());
        var limit = new RateLimit("test", Permits: 7, Window: TimeSpan.FromHours(1));
        _ = nodeA.Services;
        _ = nodeB.Services;

        // Each batch asks for the shared partition five times among partitions of its own, in different orders,
        // as two nodes' sign-up writers would; both lock what they share in the same order, so neither waits
        // for the other forever.
        async Task<bool[]> BatchAsync(NewsletterApp node, int n)
        {
            await using var scope = node.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var partitions = new[] { $"own-{n}-z", "shared", $"own-{n}-a", "shared", "shared", $"own-{n}-m", "shared", "shared" };
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            var granted = await scope.ServiceProvider.GetRequiredService<SharedRateLimiter>().TryAcquireEachAsync(limit, partitions, Ct);
            await tx.CommitAsync(Ct);
            return granted;
        }

        var batches = await Task.WhenAll(Enumerable.Range(0, 8).Select(n => Task.Run(() => BatchAsync(n % 2 == 0 ? nodeA : nodeB, n), Ct)));
        int[] shared = [1, 3, 4, 6, 7];
        Assert.Equal(7, batches.Sum(b => shared.Count(i => b[i])));
        foreach (var b in batches)
        {
            Assert.True(b[0] && b[2] && b[5]);
            var got = shared.Select(i => b[i]).ToList();
            Assert.Equal(got.OrderByDescending(g => g), got); // granted ones come first: a prefix in request order
        }
    }
}
