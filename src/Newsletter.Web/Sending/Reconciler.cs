using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;

namespace Newsletter.Web.Sending;

/// <summary>
/// The tables are the truth; Hangfire only runs work. Every minute (and at start-up) this re-creates what
/// the tables say is due: scheduled issues whose time has come, sends left in Preparing by a crash, and
/// Sending issues whose last rows wait (every node's SendWorkers take them). It also pauses a send that
/// has made no progress for StallTimeout, and says why on the dashboard.
/// </summary>
public sealed class Reconciler(AppDbContext db, IssueSender sender, Ledger ledger, IOptions<SendingOptions> options, TimeProvider clock, ILogger<Reconciler> logger)
{
    public const string RecurringJobId = "newsletter:reconcile";

    public async Task RunAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var due = await db.Issues.AsNoTracking()
            .Where(i => (i.Status == IssueStatus.Scheduled && i.ScheduledAt <= now) || (i.Status == IssueStatus.Preparing && i.StartedAt < now.AddMinutes(-1)))
            .Select(i => i.Id).ToListAsync(ct);
        foreach (var id in due)
        {
            logger.LogInformation("Reconciler: issue {Id} is due; starting it", id);
            await sender.StartAsync(id, ct);
        }

        var sending = await db.Issues.AsNoTracking().Where(i => i.Status == IssueStatus.Sending).Select(i => new { i.Id, i.StartedAt, i.ResumedAt }).ToListAsync(ct);
        foreach (var issue in sending)
        {
            if (await sender.CompleteIfDoneAsync(issue.Id, ct))
            {
                continue;
            }

            // Progress counts from the start, the last accepted message or the author's last resume, whichever
            // is latest: a send resumed after a long pause is not stalled the moment it resumes. The three reads go
            // from cheap to dear, each only when the one before leaves a stall possible: during a send to a million
            // readers they probe an index where they counted and scanned every row once a minute (0.34 s a minute).
            var startedMs = new[] { Ms(issue.StartedAt), Ms(issue.ResumedAt) }.Max() ?? new DateTimeOffset(now).ToUnixTimeMilliseconds();
            var stallMs = (long)options.Value.StallTimeout.TotalMilliseconds;
            if (ledger.NowMs - startedMs <= stallMs || !await ledger.HasDueWorkAsync(issue.Id, ct) || await ledger.AcceptedSinceAsync(issue.Id, ledger.NowMs - stallMs, ct))
            {
                continue;
            }

            // Stalled: how long for, in the reason the author reads.
            var lastSentMs = await db.Deliveries.Where(d => d.IssueId == issue.Id).MaxAsync(d => d.SentAtMs, ct);
            var idle = TimeSpan.FromMilliseconds(ledger.NowMs - Math.Max(lastSentMs ?? 0, startedMs));
            if (idle > options.Value.StallTimeout)
            {
                await sender.PauseAutomaticallyAsync(issue.Id, $"{IssueSender.AutomaticPause}: no message was accepted for {idle.TotalMinutes:F0} minutes while recipients were waiting. Check the SMTP server and the jobs page, then resume.", issue.ResumedAt, ct);
            }
        }
    }

    private static long? Ms(DateTime? at) => at is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)).ToUnixTimeMilliseconds() : null;
}
