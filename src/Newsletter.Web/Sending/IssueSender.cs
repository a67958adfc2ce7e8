using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;

namespace Newsletter.Web.Sending;

/// <summary>
/// Moves an issue through its states. Every transition is a conditional UPDATE on the issue's current
/// state, so a job that runs twice, or two nodes that race, move it once. Jobs carry only the issue id.
/// </summary>
public sealed class IssueSender(AppDbContext db, Ledger ledger, SendSignal signal, ContentChanges changes, TimeProvider clock, ILogger<IssueSender> logger, IBackgroundJobClient jobs)
{
    /// <summary>How early a start job may begin a scheduled issue: jobs and clocks are not to the second.</summary>
    public static readonly TimeSpan StartMargin = TimeSpan.FromSeconds(5);

    /// <summary>Scheduled (or a Preparing left by a crash) → Preparing → snapshot → Sending, then starts the workers.</summary>
    [AutomaticRetry(Attempts = 3)]
    public async Task StartAsync(int issueId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var due = now + StartMargin;
        var moved = await db.Issues
            .Where(i => i.Id == issueId && (i.Status == IssueStatus.Scheduled || i.Status == IssueStatus.Preparing) && (i.ScheduledAt == null || i.ScheduledAt <= due))
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Preparing).SetProperty(i => i.StartedAt, i => i.StartedAt ?? now), ct);
        if (moved == 0)
        {
            logger.LogInformation("Issue {Id} is not due or not scheduled; start skipped", issueId);
            return;
        }

        var issue = await db.Issues.AsNoTracking().FirstAsync(i => i.Id == issueId, ct);
        await AssignNumberAsync(issue, now, ct);
        if (!issue.EmailOnly)
        {
            // Its link-preview card, ready before the issue's link is shared.
            jobs.Enqueue<SocialCards.SocialCardJob>(j => j.DrawIssueAsync(issue.Id, CancellationToken.None));
        }

        if (issue.WebOnly)
        {
            await db.Issues.Where(i => i.Id == issueId && i.Status == IssueStatus.Preparing).ExecuteUpdateAsync(u => u
                .SetProperty(i => i.Status, IssueStatus.Sent).SetProperty(i => i.CompletedAt, now), ct);
            await changes.IssuesChangedAsync(ct);
            return;
        }

        var recipients = await ledger.SnapshotAsync(issue, ct);
        var started = await db.Issues.Where(i => i.Id == issueId && i.Status == IssueStatus.Preparing)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sending).SetProperty(i => i.RecipientCount, recipients), ct);
        if (started == 0)
        {
            // Cancelled while the snapshot ran: its rows must not sit Pending under a Cancelled issue.
            var skipped = await db.Deliveries.Where(d => d.IssueId == issueId && d.Status == DeliveryStatus.Pending && db.Issues.Any(i => i.Id == issueId && i.Status == IssueStatus.Cancelled))
                .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Skipped).SetProperty(d => d.LastError, Ledger.CancelledError), ct);
            // Or a second start (the reconciler and the scheduled job after a restart) found it Preparing and the
            // first one moved it on: that is not a cancellation, and the log said it was.
            var status = await db.Issues.AsNoTracking().Where(i => i.Id == issueId).Select(i => i.Status).FirstAsync(ct);
            if (status == IssueStatus.Cancelled)
            {
                logger.LogInformation("Issue {Id} was cancelled while its snapshot ran; nothing sent ({Skipped} rows skipped)", issueId, skipped);
            }
            else
            {
                logger.LogInformation("Issue {Id} was started by another start at the same time; it is {Status}", issueId, status);
            }

            return;
        }

        logger.LogInformation("Issue {Id} snapshot: {Count} recipients; sending", issueId, recipients);
        await changes.IssuesChangedAsync(ct);
        StartWorkers(issueId);
    }

    /// <summary>Wakes this node's workers now; every other node's join within a second (see <see cref="SendWorkers"/>).</summary>
    public void StartWorkers(int issueId)
    {
        logger.LogDebug("Waking send workers for issue {Id}", issueId);
        signal.Nudge();
    }

    /// <summary>Numbers are given in send order under the unique index; a web-only issue gets one too.</summary>
    private async Task AssignNumberAsync(Issue issue, DateTime now, CancellationToken ct)
    {
        if (issue.Number is not null)
        {
            return;
        }

        for (var attempt = 0; attempt < 5; attempt++)
        {
            var next = (await db.Issues.MaxAsync(i => (int?)i.Number, ct) ?? 0) + 1;
            try
            {
                var set = await db.Issues.Where(i => i.Id == issue.Id && i.Number == null)
                    .ExecuteUpdateAsync(u => u.SetProperty(i => i.Number, next).SetProperty(i => i.PublishedAt, i => issue.EmailOnly ? null : (i.PublishedAt ?? now)), ct);
                // Zero rows: another node numbered this issue a moment ago; its number stands.
                issue.Number = set == 1 ? next : await db.Issues.Where(i => i.Id == issue.Id).Select(i => i.Number).FirstAsync(ct);
                return;
            }
            catch (Exception e) when (db.IsUniqueViolation(e))
            {
                // Another issue took that number at the same moment: take the next one.
            }
        }

        throw new InvalidOperationException($"Could not assign a number to issue {issue.Id}");
    }

    /// <summary>How the reason of a pause the sender made on its own begins; webhooks call such a pause "issue.failed".</summary>
    public const string AutomaticPause = "Paused automatically";

    public async Task<bool> PauseAsync(int issueId, string reason, CancellationToken ct) =>
        await db.Issues.Where(i => i.Id == issueId && i.Status == IssueStatus.Sending)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Paused).SetProperty(i => i.PausedReason, reason), ct) == 1;

    /// <summary>
    /// Pauses by a rule (relay outage, stall) unless the author resumed the send since the rule's check read
    /// <paramref name="resumedAtSeen"/>: a stale failure must not pause the send the author just resumed.
    /// </summary>
    public async Task<bool> PauseAutomaticallyAsync(int issueId, string reason, DateTime? resumedAtSeen, CancellationToken ct) =>
        await db.Issues.Where(i => i.Id == issueId && i.Status == IssueStatus.Sending && i.ResumedAt == resumedAtSeen)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Paused).SetProperty(i => i.PausedReason, reason), ct) == 1;

    public async Task<bool> ResumeAsync(int issueId, CancellationToken ct)
    {
        var resumed = await db.Issues.Where(i => i.Id == issueId && i.Status == IssueStatus.Paused)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sending).SetProperty(i => i.PausedReason, (string?)null)
                .SetProperty(i => i.ResumedAt, clock.GetUtcNow().UtcDateTime), ct) == 1;
        if (resumed)
        {
            StartWorkers(issueId);
        }

        return resumed;
    }

    /// <summary>
    /// The author's choice for a cancelled issue that reached readers: keep its web page (the default, so their
    /// "Read it on the web" link works) or take it off the site, after which its address answers 410 Gone.
    /// </summary>
    public async Task<bool> SetWebPageAsync(int issueId, bool keep, CancellationToken ct)
    {
        var changed = await db.Issues.Where(i => i.Id == issueId && i.Status == IssueStatus.Cancelled && i.Number != null && !i.EmailOnly && i.DeletedAt == null
                && (keep ? i.PublishedAt == null : i.PublishedAt != null))
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.PublishedAt, i => keep ? i.StartedAt ?? clock.GetUtcNow().UtcDateTime : null), ct) == 1;
        if (changed)
        {
            await changes.IssuesChangedAsync(ct);
        }

        return changed;
    }

    /// <summary>Stops a send within one batch: workers see the state before their next claim; what is left is Skipped as <see cref="Ledger.CancelledError"/>.</summary>
    public async Task<bool> CancelAsync(int issueId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        // One transaction: a stop between the two writes would leave Pending rows on a Cancelled issue,
        // which no worker or reconciler visits again, and the progress page would never add up.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var cancelled = await db.Issues.Where(i => i.Id == issueId && (i.Status == IssueStatus.Sending || i.Status == IssueStatus.Paused || i.Status == IssueStatus.Preparing))
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Cancelled).SetProperty(i => i.CompletedAt, now)
                // A pause's reason no longer holds: shown on a cancelled send, it read as the send's last error.
                .SetProperty(i => i.PausedReason, (string?)null), ct) == 1;
        if (cancelled)
        {
            await db.Deliveries.Where(d => d.IssueId == issueId && (d.Status == DeliveryStatus.Pending || d.Status == DeliveryStatus.Deferred))
                .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Skipped).SetProperty(d => d.LastError, Ledger.CancelledError), ct);
            // Readers who got it hold a "Read it on the web" link, and the archive's numbering counts it: the page
            // stays. One that reached nobody leaves the site, and gives its number back if no later issue took one.
            var reached = await db.Deliveries.AnyAsync(d => d.IssueId == issueId && (d.Status == DeliveryStatus.Sent || d.Status == DeliveryStatus.Sending || d.Status == DeliveryStatus.Held || d.Uncertain), ct);
            if (!reached)
            {
                var number = await db.Issues.Where(i => i.Id == issueId).Select(i => i.Number).FirstAsync(ct);
                var newest = number is not null && !await db.Issues.AnyAsync(i => i.Number > number, ct);
                await db.Issues.Where(i => i.Id == issueId)
                    .ExecuteUpdateAsync(u => u.SetProperty(i => i.PublishedAt, (DateTime?)null).SetProperty(i => i.Number, i => newest ? null : i.Number), ct);
            }
        }

        await tx.CommitAsync(ct);
        if (cancelled)
        {
            // The site changes either way: the page stays with its state, or it leaves (PublicIssues).
            await changes.IssuesChangedAsync(ct);
        }

        return cancelled;
    }

    /// <summary>Failed (but not hard-bounced, still active), Deferred and Held deliveries go back to Pending: the author decided.</summary>
    public async Task<int> RetryFailedAsync(int issueId, CancellationToken ct)
    {
        var active = Subscribers.SubscriberStatus.Active;
        // One transaction, the issue first: rows put back to Pending on an issue that is not sending (still
        // Sent, or Cancelled by someone else a moment ago) would never be sent, so they go back only when the
        // issue is, or is now again, Sending.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var reopened = await db.Issues.Where(i => i.Id == issueId && (i.Status == IssueStatus.Sent || i.Status == IssueStatus.Paused))
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sending).SetProperty(i => i.CompletedAt, (DateTime?)null).SetProperty(i => i.PausedReason, (string?)null), ct) == 1;
        if (!reopened && !await db.Issues.AnyAsync(i => i.Id == issueId && i.Status == IssueStatus.Sending, ct))
        {
            return 0;
        }

        var count = await db.Deliveries
            .Where(d => d.IssueId == issueId && (d.Status == DeliveryStatus.Failed || d.Status == DeliveryStatus.Deferred || d.Status == DeliveryStatus.Held)
                && db.Subscribers.Any(s => s.Id == d.SubscriberId && s.Status == active))
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Pending).SetProperty(d => d.NextAttemptAtMs, 0L).SetProperty(d => d.Attempts, 0), ct);
        if (count == 0)
        {
            return 0; // nothing to resend: the rollback leaves the issue as it was
        }

        await tx.CommitAsync(ct);
        StartWorkers(issueId);
        return count;
    }

    /// <summary>Marks a Sending issue Sent when its ledger holds nothing left to do.</summary>
    public async Task<bool> CompleteIfDoneAsync(int issueId, CancellationToken ct)
    {
        // The reconciler asks every minute of a send: an index probe answers "not yet" without counting every row.
        if (await ledger.HasUnfinishedAsync(issueId, ct))
        {
            return false;
        }

        var counts = await ledger.CountsAsync(issueId, ct);
        if (!counts.Finished)
        {
            return false;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var done = await db.Issues.Where(i => i.Id == issueId && i.Status == IssueStatus.Sending)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sent).SetProperty(i => i.CompletedAt, now), ct) == 1;
        if (done)
        {
            logger.LogInformation("Issue {Id} sent: {Sent} sent, {Failed} failed, {Skipped} skipped, {Uncertain} uncertain", issueId, counts.Sent, counts.Failed, counts.Skipped, counts.Uncertain);
        }

        return done;
    }
}
