using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Sending;

/// <summary>
/// The reconciler pauses a send that has accepted no message for <c>Sending:StallTimeout</c> while readers wait
/// (every node's workers gone, say), and says for how long. It reads the newest accepted message first instead of
/// every row, so which row that is, and where it sits in the ledger, must not change the answer.
/// </summary>
public class ReconcilerStallTests
{
    [Fact]
    public async Task ASendIsPausedOnlyWhenNoMessageWasAcceptedForTheStallTimeoutSinceItStartedOrResumed()
    {
        // No job server in this process: nobody takes the rows, and only the reconciler, run by hand, acts.
        using var app = new NewsletterApp(new() { ["Jobs:Server"] = "false", ["Sending:StallTimeout"] = "00:10:00" });
        var readers = await AddReadersAsync(app, 30);
        var issueId = await AddIssueAsync(app);
        var now = DateTimeOffset.UtcNow;
        long MinutesAgo(int minutes) => now.AddMinutes(-minutes).ToUnixTimeMilliseconds();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var reconciler = scope.ServiceProvider.GetRequiredService<Reconciler>();
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sending).SetProperty(i => i.StartedAt, now.AddMinutes(-40).UtcDateTime), Ct);
        // Ten readers got it 25 minutes ago, one of them (the ledger's first row, read last) 2 minutes ago; twenty wait.
        db.Deliveries.AddRange(readers.Select((id, n) => new Delivery
        {
            IssueId = issueId,
            SubscriberId = id,
            Status = n < 10 ? DeliveryStatus.Sent : DeliveryStatus.Pending,
            Attempts = n < 10 ? 1 : 0,
            SentAtMs = n switch { 0 => MinutesAgo(2), < 10 => MinutesAgo(25), _ => null },
        }));
        await db.SaveChangesAsync(Ct);

        async Task<Issue> RunAsync()
        {
            await reconciler.RunAsync(Ct);
            return await db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct);
        }

        Assert.Equal(IssueStatus.Sending, (await RunAsync()).Status);

        // Nothing for 25 minutes: paused, with how long.
        var (fiveAgo, twentyFiveAgo) = (MinutesAgo(5), MinutesAgo(25));
        await db.Deliveries.Where(d => d.IssueId == issueId && d.SentAtMs > fiveAgo).ExecuteUpdateAsync(u => u.SetProperty(d => d.SentAtMs, twentyFiveAgo), Ct);
        var paused = await RunAsync();
        Assert.Equal(IssueStatus.Paused, paused.Status);
        Assert.Contains("no message was accepted for 25 minutes", paused.PausedReason, StringComparison.Ordinal);

        // Resumed a minute ago: not stalled yet, whatever the rows say; resumed 15 minutes ago with nothing since: paused for 15.
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sending).SetProperty(i => i.PausedReason, (string?)null).SetProperty(i => i.ResumedAt, now.AddMinutes(-1).UtcDateTime), Ct);
        Assert.Equal(IssueStatus.Sending, (await RunAsync()).Status);
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.ResumedAt, now.AddMinutes(-15).UtcDateTime), Ct);
        paused = await RunAsync();
        Assert.Equal(IssueStatus.Paused, paused.Status);
        Assert.Contains("no message was accepted for 15 minutes", paused.PausedReason, StringComparison.Ordinal);

        // Nobody waiting now (the rest deferred to later): a quiet send is not a stalled one.
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sending).SetProperty(i => i.PausedReason, (string?)null), Ct);
        await db.Deliveries.Where(d => d.IssueId == issueId && d.Status == DeliveryStatus.Pending)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Deferred).SetProperty(d => d.NextAttemptAtMs, now.AddMinutes(30).ToUnixTimeMilliseconds()), Ct);
        Assert.Equal(IssueStatus.Sending, (await RunAsync()).Status);

        // Every row settled: the send is complete.
        await db.Deliveries.Where(d => d.IssueId == issueId && d.Status == DeliveryStatus.Deferred).ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Failed), Ct);
        Assert.Equal(IssueStatus.Sent, (await RunAsync()).Status);
    }
}
