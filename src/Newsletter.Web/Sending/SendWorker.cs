using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Sending;

/// <summary>
/// One of an issue's send workers on this node: claims a batch with a lease, sends it over one pooled SMTP
/// connection with each outcome written by the node's <see cref="OutcomeWriter"/> as the reply arrives, and
/// repeats until the ledger has nothing due. Run by <see cref="SendWorkers"/> on a thread of its own.
/// </summary>
/// <remarks>
/// <para>Synchronous on purpose: kept on its own thread, the SMTP conversation uses MailKit's synchronous API
/// and the database its synchronous calls, with no continuation ever handed to the thread pool. Measured
/// with the s1 benchmark, that costs a quarter less CPU per message than the same loop written with async.</para>
/// <para>Exactly once: before every message the worker checks that its lease, renewed by the node's
/// heartbeat, has at least <see cref="SendNode.Margin"/> left; if not (the database is away, the process
/// froze), it hands the rest of the batch back instead of racing whoever takes it next. Each message starts
/// only once its row is durably marked in flight, still ours, together with the previous message's outcome:
/// a crash leaves at most the message on the wire without an outcome, and only that row comes back Uncertain.
/// A connection lost after the relay accepted a recipient may have delivered the message: that row goes back
/// Uncertain too.</para>
/// </remarks>
public sealed class SendWorker(
    AppDbContext db,
    Ledger ledger,
    OutcomeWriter writer,
    IssueSender sender,
    IssueMessages messages,
    Tracking.LinkClicks links,
    IMailTransport transport,
    SendNode node,
    SendingMetrics metrics,
    IOptions<SendingOptions> options,
    IOptions<Site.SiteOptions> site,
    TimeProvider clock,
    ILogger<SendWorker> logger)
{
    /// <summary>
    /// Sends until nothing of the issue is due. Returns when to look again (Unix ms) when the only rows left
    /// wait for a retry far off, or null when the issue is finished, paused or cancelled.
    /// </summary>
    public long? Run(int issueId, int slot, CancellationToken ct)
    {
        var o = options.Value;
        // Unique per run and prefixed by the node: a worker that lost its lease can never write over the new
        // owner's rows, and a dead node's leases are found by prefix.
        var owner = node.NewOwner(slot);
        PreparedIssue? prepared = null;
        IMailSession? session = null;
        var sent = 0;
        var batches = 0;
        var size = 1;
        var failures = 0;
        var started = Stopwatch.GetTimestamp();
        var time = new Timings();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var mark = Stopwatch.GetTimestamp();
                var status = db.Issues.AsNoTracking().Where(i => i.Id == issueId).Select(i => (IssueStatus?)i.Status).FirstOrDefault();
                if (status != IssueStatus.Sending)
                {
                    return null; // paused, cancelled, or finished by another worker
                }

                // The issue's email is made before anything is claimed: a template that fails (an author's edit
                // after start-up) claims nobody, marks nobody uncertain, and pauses the send at once with the
                // reason, instead of a worker failing and restarting every second until the stall timeout.
                if (prepared is null)
                {
                    try
                    {
                        prepared = messages.PrepareAsync(issueId, ct, links).GetAwaiter().GetResult();
                    }
                    catch (Newsletter.Mail.TemplateException e)
                    {
                        logger.LogError("Issue {Issue}: the email could not be made from its template: {Error}", issueId, e.Message);
                        var reason = $"Paused automatically: the email could not be made from its template. {e.Message} Fix the template, then resume.";
                        sender.PauseAsync(issueId, reason, CancellationToken.None).GetAwaiter().GetResult();
                        return null;
                    }
                }

                var claimStarted = Stopwatch.GetTimestamp();
                var batch = ledger.Claim(issueId, owner, size);
                time.Ledger += Stopwatch.GetElapsedTime(mark);
                if (batch.Count == 0)
                {
                    // Rare calls (the end of a send): waiting on their tasks is harmless on this thread of our own.
                    if (sender.CompleteIfDoneAsync(issueId, ct).GetAwaiter().GetResult())
                    {
                        return null;
                    }

                    var next = ledger.NextDue(issueId);
                    if (next is null)
                    {
                        return null;
                    }

                    var wait = next.Value - ledger.NowMs;
                    if (wait > 30_000)
                    {
                        return next; // deferred rows are far off: free the thread, the node looks again then
                    }

                    // Nothing due yet, or the rate limit is empty for this second.
                    ct.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Clamp(wait, 50, 1000)));
                    continue;
                }

                var lease = node.Hold(owner, issueId, claimStarted);
                BatchResult result;
                try
                {
                    session ??= transport.OpenSession();
                    result = SendBatch(prepared, session, batch, owner, lease, time, ct);
                    mark = Stopwatch.GetTimestamp();
                    if (result.Unsent.Count > 0)
                    {
                        ledger.Release(owner, result.Unsent, ledger.NowMs + (result.LostConnection ? 1000 : 0), result.MayHaveArrived);
                    }

                    time.Ledger += Stopwatch.GetElapsedTime(mark);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // An outcome could not be written (the database went away, or refused): the batch's rows go to
                    // the next claim now (the one in flight marked uncertain) instead of waiting out a lease
                    // nobody renews any more.
                    try
                    {
                        ledger.Expire([owner]);
                    }
                    catch (Exception again) when (again is System.Data.Common.DbException or InvalidOperationException)
                    {
                        logger.LogError(again, "Issue {Issue}: could not hand back a failed batch; it returns when its lease ends", issueId);
                    }

                    throw;
                }
                finally
                {
                    node.Drop(owner);
                }

                sent += result.Outcomes.Count(x => x.Status == DeliveryStatus.Sent);
                batches++;
                size = NextSize(size, result, o);
                if (result.LostConnection)
                {
                    session.Dispose();
                    session = null;
                    if (PausedForOutage(issueId, result.Failure!))
                    {
                        return null;
                    }

                    // Back off while the relay is away: 1, 2, 4 s, then every 5 s.
                    ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(Math.Min(5, 1 << Math.Min(failures++, 3))));
                }
                else
                {
                    failures = 0;
                }

                if (result.LeaseRanShort)
                {
                    // The heartbeat could not renew in time (database away or this process starved): start over
                    // with a fresh claim once it can, rather than send on a lease someone else may now hold.
                    ct.WaitHandle.WaitOne(node.Margin);
                }

                // The rate can only pass the threshold when failures arrive, so a clean batch costs no count.
                if (result.Outcomes.Any(x => x.Status == DeliveryStatus.Failed))
                {
                    CheckFailureRateAsync(issueId, ct).GetAwaiter().GetResult();
                }
            }

            return null;
        }
        finally
        {
            session?.Dispose();

            // Which node sent how much is operational truth too: it shows the work was shared, or wasn't.
            // Where the time went tells a slow SMTP server from a busy database at a glance.
            logger.LogInformation("Send worker {Slot} of issue {Issue} on process {Process} stopped: {Sent} sent in {Batches} batches over {Seconds:F1} s (ledger {Ledger:F1} s, building {Build:F1} s, SMTP {Smtp:F1} s)",
                slot, issueId, Environment.ProcessId, sent, batches, Stopwatch.GetElapsedTime(started).TotalSeconds,
                time.Ledger.TotalSeconds, time.Build.TotalSeconds, time.Smtp.TotalSeconds);
        }
    }

    /// <summary>
    /// The next claim's size: about <see cref="SendingOptions.TargetBatchTime"/> of sending at the pace the relay
    /// just showed, growing at most twofold per batch, so a slow relay never has a whole batch in the air.
    /// </summary>
    private static int NextSize(int size, BatchResult result, SendingOptions o)
    {
        if (result.Attempted == 0)
        {
            return size;
        }

        var perMessage = result.SmtpTime.TotalSeconds / result.Attempted;
        var fits = perMessage <= 0 ? o.BatchSize : (int)Math.Clamp(o.TargetBatchTime.TotalSeconds / perMessage, 1, o.BatchSize);
        return Math.Clamp(Math.Min(size * 2, fits), 1, o.BatchSize);
    }

    /// <summary>
    /// Pauses the send when the relay has failed for <see cref="SendingOptions.StallTimeout"/>, and says so. The
    /// time counts from the author's last resume when that is later: a worker whose connection attempt began
    /// before the author resumed must not pause the send again at once with the old outage.
    /// </summary>
    private bool PausedForOutage(int issueId, string error)
    {
        var (since, _) = node.Relay;
        if (since is null || clock.GetUtcNow() - since.Value < options.Value.StallTimeout)
        {
            return false;
        }

        var resumedAt = db.Issues.AsNoTracking().Where(i => i.Id == issueId).Select(i => i.ResumedAt).FirstOrDefault();
        if (resumedAt is { } resumed && clock.GetUtcNow() - new DateTimeOffset(DateTime.SpecifyKind(resumed, DateTimeKind.Utc)) < options.Value.StallTimeout)
        {
            return false;
        }

        var reason = $"{IssueSender.AutomaticPause}: the SMTP relay has not answered since {site.Value.LocalText(since.Value.UtcDateTime, "d MMM yyyy, HH:mm:ss")} ({error}). Check the relay, then resume.";
        if (sender.PauseAutomaticallyAsync(issueId, reason, resumedAt, CancellationToken.None).GetAwaiter().GetResult())
        {
            logger.LogError("Issue {Issue}: {Reason}", issueId, reason);
        }

        return true;
    }

    private BatchResult SendBatch(PreparedIssue prepared, IMailSession session, IReadOnlyList<ClaimedDelivery> batch, string owner, SendNode.Lease lease, Timings time, CancellationToken ct)
    {
        // Outcomes not yet handed to the writer: they go with the next message's in-flight mark, or at the end.
        var unwritten = new List<DeliveryOutcome>();

        var o = options.Value;
        var ids = batch.Select(b => b.SubscriberId).ToList();
        var now = clock.GetUtcNow().UtcDateTime;
        var loading = Stopwatch.GetTimestamp();
        var subscribers = db.Subscribers.AsNoTracking().Where(s => ids.Contains(s.Id))
            .Select(s => new Recipient(s.Id, s.Email, s.Name, s.Status, s.PausedUntil)).ToDictionary(s => s.Id);
        time.Ledger += Stopwatch.GetElapsedTime(loading);
        var result = new BatchResult(new List<DeliveryOutcome>(batch.Count));
        var smtpBefore = time.Smtp;
        BatchResult Ended(BatchResult result)
        {
            // Counted before this worker's last outcomes commit: the send can't be finished before they do, so a
            // scrape after "Sent" sees every message in the counters.
            metrics.Record(result.Outcomes);
            var mark = Stopwatch.GetTimestamp();
            writer.Submit(owner, unwritten, null).Wait();
            time.Ledger += Stopwatch.GetElapsedTime(mark);
            return result with { SmtpTime = time.Smtp - smtpBefore };
        }

        void Finished(DeliveryOutcome outcome)
        {
            result.Outcomes.Add(outcome);
            unwritten.Add(outcome);
        }

        for (var i = 0; i < batch.Count; i++)
        {
            var d = batch[i];
            if (!subscribers.TryGetValue(d.SubscriberId, out var r) || r.Status != SubscriberStatus.Active || r.PausedUntil > now)
            {
                // Unsubscribed, paused, bounced or erased since the snapshot.
                Finished(new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Skipped, null, "not an active subscriber at send time", 0, false));
                continue;
            }

            if (lease.Left < node.Margin || ct.IsCancellationRequested)
            {
                if (!ct.IsCancellationRequested)
                {
                    logger.LogWarning("Issue {Issue}: the lease has {Left:F1} s left, less than the {Margin:F1} s a message may need; handing {Count} deliveries back",
                        prepared.IssueId, lease.Left.TotalSeconds, node.Margin.TotalSeconds, batch.Count - i);
                }

                return Ended(result with { Unsent = batch.Skip(i).Select(b => b.Id).ToList(), LeaseRanShort = true });
            }

            // The previous outcomes and this row's in-flight mark are committed while the copy is built.
            var commit = writer.Submit(owner, unwritten, d.Id);
            unwritten = [];
            var mark = Stopwatch.GetTimestamp();
            MimeKit.MimeMessage message;
            MimeKit.MailboxAddress envelopeFrom;
            try
            {
                (message, envelopeFrom) = messages.Build(prepared, r, d.Id);
            }
            catch (ArgumentException e)
            {
                // This reader's copy can't be made (the mail library refuses a header value, such as a name stored
                // with a line separator before names were cleaned). It never reached the wire: a failure the
                // ledger shows with its reason, not an uncertain delivery retried until it is held.
                if (!commit.Wait())
                {
                    return Ended(result with { Unsent = batch.Skip(i).Select(b => b.Id).ToList(), LeaseRanShort = true });
                }

                logger.LogWarning("Issue {Issue}: the copy for delivery {Delivery} could not be made: {Error}", prepared.IssueId, d.Id, e.Message);
                Finished(new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Failed, null, $"this reader's copy could not be made: {e.Message}", 0, false));
                continue;
            }

            var built = Stopwatch.GetTimestamp();
            time.Build += Stopwatch.GetElapsedTime(mark, built);
            SendResult sent;
            DateTimeOffset attemptStarted;
            // Disposed at once: a MimeMessage left to the garbage collector goes through its finalizer queue.
            using (message)
            {
                var ours = commit.Wait();
                var committed = Stopwatch.GetTimestamp();
                time.Ledger += Stopwatch.GetElapsedTime(built, committed);
                built = committed;
                if (!ours)
                {
                    // Another worker took the row over (this one stalled past its lease): it is theirs to send.
                    logger.LogWarning("Issue {Issue}: delivery {Delivery} is no longer this worker's; handing {Count} deliveries back", prepared.IssueId, d.Id, batch.Count - i);
                    return Ended(result with { Unsent = batch.Skip(i).Select(b => b.Id).ToList(), LeaseRanShort = true });
                }

                attemptStarted = clock.GetUtcNow();
                try
                {
                    sent = session.Send(message, envelopeFrom, ct);
                }
                catch (OperationCanceledException)
                {
                    // Shutting down: the transport checks before a message starts and then lets it finish, so
                    // this one never left; it and the rest of the batch go back as they were. A stop is not the
                    // relay failing: recorded as a lost connection, it set the relay's "not answering since" on
                    // this node, which the last heartbeat could publish to every node's progress page.
                    return Ended(result with { Unsent = batch.Skip(i).Select(b => b.Id).ToList() });
                }
                finally
                {
                    time.Smtp += Stopwatch.GetElapsedTime(built);
                }
            }

            result.Attempted++;

            if (sent.Outcome == SendOutcome.ConnectionLost)
            {
                // The connection went away: the rest of the batch goes back, unfailed; this row too, and marked
                // uncertain when the relay had accepted its recipient (it may have stored the message).
                var failingFor = node.RelayFailed(attemptStarted, sent.Reply ?? "connection lost");
                if (failingFor < TimeSpan.FromSeconds(1))
                {
                    logger.LogWarning("SMTP connection lost while sending issue {Issue}: {Reply}", prepared.IssueId, sent.Reply);
                }

                return Ended(result with
                {
                    Unsent = batch.Skip(i).Select(b => b.Id).ToList(),
                    MayHaveArrived = sent.MayHaveBeenDelivered ? d.Id : null,
                    LostConnection = true,
                    Failure = sent.Reply ?? "connection lost",
                });
            }

            node.RelaySucceeded(attemptStarted);
            Finished(Outcome(d, sent, o));
        }

        return Ended(result);
    }

    private DeliveryOutcome Outcome(ClaimedDelivery d, SendResult result, SendingOptions o)
    {
        switch (result.Outcome)
        {
            case SendOutcome.Sent:
                return new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Sent, result.StatusCode ?? 250, null, 0, false);
            case SendOutcome.Deferred when d.Attempts < o.MaxAttempts:
                var delay = TimeSpan.FromTicks(Math.Min(TimeSpan.FromHours(1).Ticks, o.RetryBaseDelay.Ticks * (1L << Math.Min(10, d.Attempts - 1))));
                return new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Deferred, result.StatusCode, result.Reply, ledger.NowMs + (long)delay.TotalMilliseconds, false);
            case SendOutcome.Deferred:
                return new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Failed, result.StatusCode, $"gave up after {d.Attempts} attempts: {result.Reply}", 0, false);
            default:
                return new DeliveryOutcome(d.Id, d.SubscriberId, DeliveryStatus.Failed, result.StatusCode, result.Reply, 0, result.IsHardBounce);
        }
    }

    /// <summary>A batch as it ended: outcomes to record, rows to hand back, and why it stopped early.</summary>
    private sealed record BatchResult(List<DeliveryOutcome> Outcomes)
    {
        public List<long> Unsent { get; init; } = [];

        public long? MayHaveArrived { get; init; }

        public bool LostConnection { get; init; }

        public bool LeaseRanShort { get; init; }

        public string? Failure { get; init; }

        public int Attempted { get; set; }

        public TimeSpan SmtpTime { get; init; }
    }

    private async Task CheckFailureRateAsync(int issueId, CancellationToken ct)
    {
        var o = options.Value;
        var counts = await ledger.CountsAsync(issueId, ct);
        var attempted = counts.Sent + counts.Failed;
        if (attempted >= 100 && counts.Failed > o.FailureRateThreshold * attempted)
        {
            var reason = $"{IssueSender.AutomaticPause}: {counts.Failed:N0} of {attempted:N0} deliveries failed ({counts.Failed * 100.0 / attempted:F0}%, threshold {o.FailureRateThreshold:P0}). Check the SMTP server and the failures below, then resume.";
            if (await sender.PauseAsync(issueId, reason, ct))
            {
                logger.LogError("Issue {Issue}: {Reason}", issueId, reason);
            }
        }
    }
}

/// <summary>A worker's time by phase: the ledger's statements, building each copy, and the SMTP conversation.</summary>
internal sealed class Timings
{
    public TimeSpan Ledger { get; set; }

    public TimeSpan Build { get; set; }

    public TimeSpan Smtp { get; set; }
}

/// <summary>A subscriber as the sender needs them at send time.</summary>
public sealed record Recipient(long Id, string Email, string? Name, SubscriberStatus Status, DateTime? PausedUntil);
