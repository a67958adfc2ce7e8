using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Newsletter.Testing;
using Newsletter.Web.Api;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Tests.Api;

public class ApiRateGateTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Two nodes hand out permits from batches they take from one database: together never more than the limit.</summary>
    [Fact]
    public async Task TwoNodesHandingOutBatchesNeverLetATokenPastItsLimit()
    {
        using var nodeA = new NewsletterApp();
        using var nodeB = new NewsletterApp(nodeA.SecondNode());
        var clock = new SteppedClock(new DateTimeOffset(2030, 1, 1, 12, 0, 10, TimeSpan.Zero));
        var options = Options.Create(new ApiOptions { RequestsPerMinute = 100 });
        var gates = new[] { (nodeA, new ApiRateGate(options, clock)), (nodeB, new ApiRateGate(options, clock)) };

        var granted = 0;
        for (var i = 0; i < 300; i++)
        {
            var (node, gate) = gates[i % 3 == 0 ? 1 : 0];
            await using var scope = node.Services.CreateAsyncScope();
            var limiter = new SharedRateLimiter(scope.ServiceProvider.GetRequiredService<AppDbContext>(), clock);
            if (await gate.TryEnterAsync("7", limiter, Ct))
            {
                granted++;
            }
        }

        // A batch is 5 (a twentieth of 100); each node may end the window holding part of one, never more.
        Assert.InRange(granted, 100 - (2 * 5), 100);

        // Another token, and the next window, start afresh.
        await using (var scope = nodeA.Services.CreateAsyncScope())
        {
            var limiter = new SharedRateLimiter(scope.ServiceProvider.GetRequiredService<AppDbContext>(), clock);
            Assert.True(await gates[0].Item2.TryEnterAsync("8", limiter, Ct));
            Assert.False(await gates[0].Item2.TryEnterAsync("7", limiter, Ct));
            clock.Now = clock.Now.AddMinutes(1);
            Assert.True(await gates[0].Item2.TryEnterAsync("7", limiter, Ct));
        }
    }
}
