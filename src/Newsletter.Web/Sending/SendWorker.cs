using Hangfire;
using Hangfire.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Sending;

/// <summary>
/// One of an issue's Concurrency workers: claims a batch with a lease, sends it over one pooled SMTP
/// connection, writes the outcomes in one transaction, and repeats until the ledger is done. The slot
/// lock keeps one worker per slot across every node, so re-created jobs never multiply connections.
/// </summary>
public sealed class SendWorker(
    AppDbContext db,
    Ledger ledger,
    IssueSender sender,
    IssueMessages messages,
    IMailTransport transport,
    JobStorage storage,
    IBackgroundJobClient jobs,
    SendingMetrics metrics,
    IOptions<SendingOptions> options,
    TimeProvider clock,
    ILogger<SendWorker> logger)
{
    /// <summary>On the "sending" queue, which only the send workers' own Hangfire server takes (see JobsExtensions).</summary>
    [Queue("sending")]
    [AutomaticRetry(Attempts = 0)]
    public async Task RunAsync(int issueId, int slot, CancellationToken ct)
    {
        using var connection = storage.GetConnection();
        IDisposable slotLock;
        try
        {
            slotLock = connection.AcquireDistributedLock($"newsletter:send:{issueId}:{slot}", TimeSpan.FromMilliseconds(100));
        }
        catch (DistributedLockTimeoutException)
        {
            return; // this slot already has a live worker
        }

        using (slotLock)
        {
            await LoopAsync(issueId, slot, ct);
        }
    }

    private async Task LoopAsync(int issueId, int slot, CancellationToken ct)
    {
        var o = options.Value;
        // Unique per run: a worker that lost its lease (it stalled) can never write over the new owner's rows.
        var owner = $"{Environment.ProcessId}:{slot}:{Guid.NewGuid():N}";
        PreparedIssue? prepared = null;
        IMailSession? session = null;
        var sent = 0;
        var batches = 0;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var status = await db.Issues.AsNoTracking().Where(i => i.Id == issueId).Select(i => (IssueStatus?)i.Status).FirstOrDefaultAsync(ct);
                if (status != IssueStatus.Sending)
                {
                    return; // paused, cancelled, or finished by another worker
                }

                var batch = await ledger.ClaimAsync(issueId, owner, o.BatchSize, ct);
                if (batch.Count == 0)
                {
                    if (await sender.CompleteIfDoneAsync(issueId, ct))
                    {
                        return;
                    }

                    var next = await ledger.NextDueAsync(issueId, ct);
                    if (next is null)
                    {
                        return;
                    }

                    var wait = next.Value - ledger.NowMs;
                    if (wait > 30_000)
                    {
                        // Deferred rows are hours away: free the Hangfire worker and come back then.
                        jobs.Schedule<SendWorker>(w => w.RunAsync(issueId, slot, CancellationToken.None), TimeSpan.FromMilliseconds(wait));
                        return;
                    }

                    // Nothing due yet, or the rate limit is empty for this second.
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(wait, 50, 1000)), ct);
                    continue;
                }

                prepared ??= await messages.PrepareAsync(issueId, ct);
                session ??= await transport.OpenSessionAsync(ct);
                var (outcomes, unsent, lostConnection) = await SendBatchAsync(prepared, session, batch, ct);
                await ledger.RecordAsync(owner, outcomes, ct);
                sent += outcomes.Count(x => x.Status == DeliveryStatus.Sent);
                batches++;
                if (unsent.Count > 0)
                {
                    await ledger.ReleaseAsync(owner, unsent, ledger.NowMs + 2000, ct);
                }

                metrics.Record(outcomes);
                if (lostConnection)
                {
                    await session.DisposeAsync();
                    session = null;
                    await Task.Delay(1000, ct);
                }

                // The rate can only pass the threshold when failures arrive, so a clean batch costs no count.
                if (outcomes.Any(x => x.Status == DeliveryStatus.Failed))
                {
                    await CheckFailureRateAsync(issueId, ct);
                }
            }
        }
        finally
        {
            if (session is not null)
            {
                await session.DisposeAsync();
            }

            // Which node sent how much is operational truth too: it shows the work was shared, or wasn't.
            logger.LogInformation("Send worker {Slot} of issue {Issue} on process {Process} stopped: {Sent} sent in {Batches} batches over {Seconds:F1} s",
                slot, issueId, Environment.ProcessId, sent, batches, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private async Task<(List<DeliveryOutcome> Outcomes, List<long> Unsent, bool LostConnection)> SendBatchAsync(
        PreparedIssue prepared, IMailSession session, IReadOnlyList<ClaimedDelivery> batch, CancellationToken ct)
    {
        var o = options.Value;
        var ids = batch.Select(b => b.SubscriberId).ToList();
        var now = clock.GetUtcNow().UtcDateTime;
        var subscribers = await db.Subscribers.AsNoTracking().Where(s => ids.Contains(s.Id))
            .Select(s => new Recipient(s.Id, s.Email, s.Name, s.Status, s.PausedUntil)).ToDictionaryAsync(s => s.Id, ct);
        var outcomes = new List<DeliveryOutcome>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var d = batch[i];
            if (!subscribers.TryGetValue(d.SubscriberId, out var r) || r.Status != SubscriberStatus.Active || r.PausedUntil > now)
            {
                // Unsubscribed, paused, bounced or erased since the snapshot.
                outcomes.Add(new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Skipped, null, "not an active subscriber at send time", 0, false));
                continue;
            }

            var (message, envelopeFrom) = messages.Build(prepared, r, d.Id);
            SendResult result;
            // Disposed at once: a MimeMessage left to the garbage collector goes through its finalizer queue.
            using (message)
            {
                result = await session.SendAsync(message, envelopeFrom, ct);
            }

            switch (result.Outcome)
            {
                case SendOutcome.Sent:
                    outcomes.Add(new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Sent, result.StatusCode ?? 250, null, 0, false));
                    break;
                case SendOutcome.Deferred when d.Attempts < o.MaxAttempts:
                    var delay = TimeSpan.FromTicks(Math.Min(TimeSpan.FromHours(1).Ticks, o.RetryBaseDelay.Ticks * (1L << Math.Min(10, d.Attempts - 1))));
                    outcomes.Add(new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Deferred, result.StatusCode, result.Reply, ledger.NowMs + (long)delay.TotalMilliseconds, false));
                    break;
                case SendOutcome.Deferred:
                    outcomes.Add(new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Failed, result.StatusCode, $"gave up after {d.Attempts} attempts: {result.Reply}", 0, false));
                    break;
                case SendOutcome.Failed:
                    outcomes.Add(new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Failed, result.StatusCode, result.Reply, 0, result.IsHardBounce));
                    break;
                default:
                    // The connection went away: this row and the rest of the batch go back, unfailed.
                    logger.LogWarning("SMTP connection lost while sending issue {Issue}: {Reply}", prepared.IssueId, result.Reply);
                    return (outcomes, batch.Skip(i).Select(b => b.Id).ToList(), true);
            }
        }

        return (outcomes, [], false);
    }

    private async Task CheckFailureRateAsync(int issueId, CancellationToken ct)
    {
        var o = options.Value;
        var counts = await ledger.CountsAsync(issueId, ct);
        var attempted = counts.Sent + counts.Failed;
        if (attempted >= 100 && counts.Failed > o.FailureRateThreshold * attempted)
        {
            var reason = $"Paused automatically: {counts.Failed:N0} of {attempted:N0} deliveries failed ({counts.Failed * 100.0 / attempted:F0}%, threshold {o.FailureRateThreshold:P0}). Check the SMTP server and the failures below, then resume.";
            if (await sender.PauseAsync(issueId, reason, ct))
            {
                logger.LogError("Issue {Issue}: {Reason}", issueId, reason);
            }
        }
    }
}

/// <summary>A subscriber as the sender needs them at send time.</summary>
public sealed record Recipient(long Id, string Email, string? Name, SubscriberStatus Status, DateTime? PausedUntil);
