using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Welcome;

/// <summary>A claimed welcome delivery: ours until its lease runs out.</summary>
public sealed record ClaimedWelcome(long Id, int StepId, long SubscriberId, int Attempts);

/// <summary>
/// Sends the due rows of the welcome ledger, exactly once per reader and step. Rows are claimed with a lease in
/// one UPDATE ... RETURNING, so two runs (threads or nodes) never hold the same row. Before each message the row
/// is marked in flight, in a statement that succeeds only while the lease is still ours and unexpired; a lease
/// that runs out on an in-flight row means the relay may have the message, so the row is Held for the author
/// instead of being sent again. A row whose lease ran out before it was marked was never sent, and is simply
/// taken again: its old owner finds out when its own mark fails.
/// </summary>
public sealed class WelcomeSender(AppDbContext db, WelcomeSeries series, WelcomeMessages messages, IMailTransport transport, ReaderLifecycle readers, IOptions<SendingOptions> options, TimeProvider clock, ILogger<WelcomeSender> logger)
{
    public const string HeldReason = "held: the lease ran out while the message was with the relay, so the reader may have it; send again only if you decide to";

    /// <summary>Sends until nothing is due. <paramref name="beforeMessage"/> lets a test stall a worker on purpose.</summary>
    public async Task<int> SendDueAsync(CancellationToken ct, Func<ClaimedWelcome, Task>? beforeMessage = null)
    {
        var o = options.Value;
        var owner = $"welcome:{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
        if (owner.Length > 100)
        {
            owner = owner[^100..];
        }

        var sent = 0;
        while (!ct.IsCancellationRequested && !await series.IsPausedAsync(ct))
        {
            await HoldCutShortAsync(ct);
            var batch = await ClaimAsync(owner, Math.Clamp(o.BatchSize, 1, 50), ct);
            if (batch.Count == 0)
            {
                break;
            }

            var (count, stop) = await SendBatchAsync(owner, batch, beforeMessage, ct);
            sent += count;
            if (stop)
            {
                break;
            }
        }

        return sent;
    }

    private async Task<(int Sent, bool Stop)> SendBatchAsync(string owner, IReadOnlyList<ClaimedWelcome> batch, Func<ClaimedWelcome, Task>? beforeMessage, CancellationToken ct)
    {
        var sent = 0;
        var contents = new Dictionary<int, WelcomeContent?>();
        IMailSession? session = null;
        try
        {
            foreach (var d in batch)
            {
                if (beforeMessage is not null)
                {
                    await beforeMessage(d);
                }

                if (ct.IsCancellationRequested || await series.IsPausedAsync(ct))
                {
                    await ReleaseAsync(owner, ct);
                    return (sent, true);
                }

                var now = clock.GetUtcNow().UtcDateTime;
                var reader = await db.Subscribers.AsNoTracking().Where(s => s.Id == d.SubscriberId).Select(s => new { s.Email, s.Name, s.Status, s.PausedUntil }).FirstOrDefaultAsync(ct);
                var inSeries = await series.IsInAsync(d.SubscriberId, ct);
                var stepLive = await db.Set<WelcomeStep>().AnyAsync(s => s.Id == d.StepId && s.RemovedAt == null, ct);
                if (reader is null || reader.Status != SubscriberStatus.Active || !inSeries || !stepLive)
                {
                    await FinishAsync(owner, d.Id, DeliveryStatus.Skipped, null, !stepLive ? "step removed" : !inSeries ? "left the welcome series" : "not an active subscriber at send time", ct);
                    continue;
                }

                if (reader.PausedUntil > now)
                {
                    await RetryAsync(owner, d.Id, new DateTimeOffset(reader.PausedUntil.Value).ToUnixTimeMilliseconds(), "the reader paused their emails", ct);
                    continue;
                }

                if (!contents.TryGetValue(d.StepId, out var content))
                {
                    content = contents[d.StepId] = await messages.ContentAsync(d.StepId, ct);
                }

                if (content is null)
                {
                    // Visible on the page, and sent once the note is published again.
                    await RetryAsync(owner, d.Id, series.NowMs + (long)TimeSpan.FromHours(1).TotalMilliseconds, "the step's note is not published", ct);
                    continue;
                }

                MimeKit.MimeMessage message;
                MimeKit.MailboxAddress envelope;
                try
                {
                    (message, envelope) = messages.Build(content, d.SubscriberId, reader.Email, reader.Name);
                }
                catch (Exception e) when (e is ArgumentException or TemplateException)
                {
                    await FinishAsync(owner, d.Id, DeliveryStatus.Failed, null, "could not be made: " + e.Message, ct);
                    continue;
                }

                using (message)
                {
                    if (!await MarkInFlightAsync(owner, d.Id, ct))
                    {
                        // The lease ran out (this worker stalled) and someone else may hold the row now: stop without sending.
                        logger.LogWarning("Welcome delivery {Id}: the lease ran out before sending; handing the batch back", d.Id);
                        await ReleaseAsync(owner, ct);
                        return (sent, true);
                    }

                    session ??= await transport.OpenSessionAsync(ct);
                    var result = await session.SendAsync(message, envelope, CancellationToken.None);
                    switch (result.Outcome)
                    {
                        case SendOutcome.Sent:
                            await FinishAsync(owner, d.Id, DeliveryStatus.Sent, result.StatusCode ?? 250, null, ct);
                            sent++;
                            break;
                        case SendOutcome.Deferred when d.Attempts < options.Value.MaxAttempts:
                            var delay = options.Value.RetryBaseDelay * Math.Pow(2, Math.Max(0, d.Attempts - 1));
                            await RetryAsync(owner, d.Id, series.NowMs + (long)delay.TotalMilliseconds, $"{result.StatusCode} {result.Reply}", ct, result.StatusCode);
                            break;
                        case SendOutcome.Deferred:
                        case SendOutcome.Failed:
                            await FinishAsync(owner, d.Id, DeliveryStatus.Failed, result.StatusCode, $"{result.StatusCode} {result.Reply}", ct);
                            if (result.IsHardBounce)
                            {
                                await readers.SuppressAsync(d.SubscriberId, ReaderLoss.HardBounce, "smtp", $"welcome email: {result.StatusCode} {result.Reply}", ct);
                            }

                            break;
                        default:
                            // The connection broke. Accepted recipient: the message may be stored, so it is held, not resent.
                            await LostAsync(owner, d.Id, result.MayHaveBeenDelivered, result.Reply ?? "connection lost", ct);
                            await ReleaseAsync(owner, ct);
                            logger.LogWarning("Welcome series: SMTP connection lost ({Reply}); the rest waits for the next run", result.Reply);
                            return (sent, true);
                    }
                }
            }
        }
        finally
        {
            if (session is not null)
            {
                await session.DisposeAsync();
            }
        }

        return (sent, false);
    }

    /// <summary>
    /// Claims up to <paramref name="max"/> due rows. The due condition is repeated outside the subquery so that on
    /// PostgreSQL a claimer that waited for another's row lock re-reads the row and lets it go.
    /// </summary>
    private async Task<IReadOnlyList<ClaimedWelcome>> ClaimAsync(string owner, int max, CancellationToken ct)
    {
        const string due = """
            ((("Status" = @pending OR "Status" = @deferred) AND "NextAttemptAtMs" <= @now)
              OR ("Status" = @sending AND "LeaseExpiresAtMs" < @now AND NOT "InFlight"))
            """;
        var now = series.NowMs;
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            await using var claim = db.Command(tx, $"""
                UPDATE "WelcomeDeliveries" SET "Status" = @sending, "LeaseOwner" = @owner, "LeaseExpiresAtMs" = @until, "Attempts" = "Attempts" + 1
                WHERE "Id" IN (SELECT "Id" FROM "WelcomeDeliveries" WHERE {due} ORDER BY "Id" LIMIT @max) AND {due}
                RETURNING "Id", "StepId", "SubscriberId", "Attempts"
                """, ("@pending", (int)DeliveryStatus.Pending), ("@deferred", (int)DeliveryStatus.Deferred), ("@sending", (int)DeliveryStatus.Sending),
                ("@now", now), ("@owner", owner), ("@until", now + (long)options.Value.LeaseDuration.TotalMilliseconds), ("@max", max));
            var claimed = new List<ClaimedWelcome>();
            await using (var r = await claim.ExecuteReaderAsync(ct))
            {
                while (await r.ReadAsync(ct))
                {
                    claimed.Add(new ClaimedWelcome(r.GetInt64(0), r.GetInt32(1), r.GetInt64(2), r.GetInt32(3)));
                }
            }

            await tx.CommitAsync(ct);
            claimed.Sort((a, b) => a.Id.CompareTo(b.Id));
            return claimed;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>Rows whose lease ran out while in flight: the reader may have the message, so no second copy without the author.</summary>
    private Task<int> HoldCutShortAsync(CancellationToken ct)
    {
        var now = series.NowMs;
        return db.Set<WelcomeDelivery>().Where(d => d.Status == DeliveryStatus.Sending && d.InFlight && d.LeaseExpiresAtMs < now)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Held).SetProperty(d => d.Uncertain, true).SetProperty(d => d.LastError, HeldReason), ct);
    }

    /// <summary>Marks the row in flight and renews the batch's lease, only while the lease is ours and has not run out.</summary>
    private async Task<bool> MarkInFlightAsync(string owner, long id, CancellationToken ct)
    {
        var now = series.NowMs;
        var until = now + (long)options.Value.LeaseDuration.TotalMilliseconds;
        var marked = await db.Set<WelcomeDelivery>()
            .Where(d => d.Id == id && d.LeaseOwner == owner && d.Status == DeliveryStatus.Sending && d.LeaseExpiresAtMs > now)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.InFlight, true).SetProperty(d => d.LeaseExpiresAtMs, until), ct) == 1;
        if (marked)
        {
            await db.Set<WelcomeDelivery>().Where(d => d.LeaseOwner == owner && d.Status == DeliveryStatus.Sending && d.LeaseExpiresAtMs > now)
                .ExecuteUpdateAsync(u => u.SetProperty(d => d.LeaseExpiresAtMs, until), ct);
        }

        return marked;
    }

    /// <summary>Sent, Failed or Skipped. A row Held while its reply was late still takes the reply: then it is known.</summary>
    private Task<int> FinishAsync(string owner, long id, DeliveryStatus status, int? code, string? error, CancellationToken ct)
    {
        var now = series.NowMs;
        return db.Set<WelcomeDelivery>()
            .Where(d => d.Id == id && d.LeaseOwner == owner && (d.Status == DeliveryStatus.Sending || d.Status == DeliveryStatus.Held))
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, status).SetProperty(d => d.FinishedAtMs, now).SetProperty(d => d.SmtpCode, code)
                .SetProperty(d => d.LastError, error).SetProperty(d => d.InFlight, false).SetProperty(d => d.Uncertain, false)
                .SetProperty(d => d.LeaseOwner, (string?)null).SetProperty(d => d.LeaseExpiresAtMs, 0L), ct);
    }

    private Task<int> RetryAsync(string owner, long id, long atMs, string error, CancellationToken ct, int? code = null) =>
        db.Set<WelcomeDelivery>().Where(d => d.Id == id && d.LeaseOwner == owner && d.Status == DeliveryStatus.Sending)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Deferred).SetProperty(d => d.NextAttemptAtMs, atMs)
                .SetProperty(d => d.LastError, error.Length > 1000 ? error[..1000] : error).SetProperty(d => d.SmtpCode, code)
                .SetProperty(d => d.InFlight, false).SetProperty(d => d.LeaseOwner, (string?)null).SetProperty(d => d.LeaseExpiresAtMs, 0L), ct);

    private Task<int> LostAsync(string owner, long id, bool mayHaveArrived, string error, CancellationToken ct) =>
        db.Set<WelcomeDelivery>().Where(d => d.Id == id && d.LeaseOwner == owner && d.Status == DeliveryStatus.Sending)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, mayHaveArrived ? DeliveryStatus.Held : DeliveryStatus.Pending)
                .SetProperty(d => d.Uncertain, mayHaveArrived).SetProperty(d => d.InFlight, false)
                .SetProperty(d => d.LastError, mayHaveArrived ? HeldReason : "connection lost before sending: " + (error.Length > 500 ? error[..500] : error))
                .SetProperty(d => d.NextAttemptAtMs, series.NowMs + 1000).SetProperty(d => d.Attempts, d => mayHaveArrived ? d.Attempts : d.Attempts - 1)
                .SetProperty(d => d.LeaseOwner, (string?)null).SetProperty(d => d.LeaseExpiresAtMs, 0L), ct);

    /// <summary>Hands back the rows of this claim not yet marked in flight; rows taken over by another owner are not touched.</summary>
    private Task<int> ReleaseAsync(string owner, CancellationToken ct) =>
        db.Set<WelcomeDelivery>().Where(d => d.LeaseOwner == owner && d.Status == DeliveryStatus.Sending && !d.InFlight)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Pending).SetProperty(d => d.LeaseOwner, (string?)null)
                .SetProperty(d => d.LeaseExpiresAtMs, 0L).SetProperty(d => d.Attempts, d => d.Attempts - 1), ct);

    /// <summary>The author's decision for held rows: send them once more.</summary>
    public Task<int> ResendHeldAsync(CancellationToken ct) =>
        db.Set<WelcomeDelivery>().Where(d => d.Status == DeliveryStatus.Held)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Pending).SetProperty(d => d.NextAttemptAtMs, 0L)
                .SetProperty(d => d.LeaseOwner, (string?)null).SetProperty(d => d.InFlight, false), ct);
}

/// <summary>The Hangfire job: the due check, then the sending. Run every minute and right after a reader confirms; safe to run twice at once.</summary>
public sealed class WelcomeJob(WelcomeSeries series, WelcomeSender sender, TimeProvider clock)
{
    public const string RecurringJobId = "newsletter:welcome";

    [AutomaticRetry(Attempts = 3)]
    public async Task RunAsync(CancellationToken ct)
    {
        await series.ScheduleDueAsync(clock.GetUtcNow(), ct);
        await sender.SendDueAsync(ct);
    }
}
