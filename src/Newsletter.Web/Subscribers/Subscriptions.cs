using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.Subscribers;

/// <summary>What happened on a subscribe request. Never shown to the visitor: every outcome looks the same.</summary>
public enum SubscribeOutcome
{
    ConfirmationSent,
    ConfirmationResent,
    ConfirmationThrottled,
    AlreadyActiveNoticeSent,
    AlreadyActiveThrottled,
    Suppressed,
}

/// <summary>
/// Subscribing, confirming and leaving. Emails are never sent here: a Hangfire job with the subscriber's
/// id is enqueued instead, so the request stays fast and an SMTP outage loses no confirmation.
/// </summary>
public sealed class Subscriptions(AppDbContext db, NewReaderQueue newReaders, IBackgroundJobClient jobs, IOptions<SubscriptionOptions> options, TimeProvider clock, ILogger<Subscriptions> logger)
{
    public async Task<SubscribeOutcome> SubscribeAsync(string email, string? name, string source, CancellationToken ct)
    {
        var key = Subscriber.KeyOf(email);
        // Hashed here, not inside the query: EF would compile the call into a new delegate on every request.
        var hash = Subscriber.HashOf(key);
        if (await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct))
        {
            logger.LogInformation("Subscribe request for a suppressed address ignored");
            return SubscribeOutcome.Suppressed;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var subscriber = await db.Subscribers.FirstOrDefaultAsync(s => s.EmailKey == key, ct);
        if (subscriber is null)
        {
            subscriber = new Subscriber { Email = email, EmailKey = key, Name = Clean(name), Status = SubscriberStatus.Pending, Source = source, CreatedAt = now, LastConfirmationSentAt = now };
            // The reader and the first line of their history in one transaction: on SQLite one turn at the
            // single write lock per new reader, instead of two, taken in the queue's order.
            using (await newReaders.WaitAsync(ct))
            {
                await using var tx = await db.Database.BeginTransactionAsync(ct);
                db.Subscribers.Add(subscriber);
                try
                {
                    await db.SaveChangesAsync(ct);
                }
                catch (DbUpdateException e) when (db.IsUniqueViolation(e))
                {
                    // A double click raced us to the insert; the other request owns the new row.
                    db.ChangeTracker.Clear();
                    return SubscribeOutcome.ConfirmationThrottled;
                }

                db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = subscriber.Id, Kind = SubscriberEventKind.Subscribed, Source = source, At = now });
                await db.SaveChangesAsync(ct);
                await tx.CommitAsync(ct);
            }

            jobs.Enqueue<SubscriberMailJob>(j => j.SendConfirmationAsync(subscriber.Id, CancellationToken.None));
            return SubscribeOutcome.ConfirmationSent;
        }

        var interval = options.Value.ResendConfirmationInterval;
        var recentlyMailed = subscriber.LastConfirmationSentAt is { } last && now - last < interval;
        switch (subscriber.Status)
        {
            case SubscriberStatus.Active:
                if (recentlyMailed)
                {
                    return SubscribeOutcome.AlreadyActiveThrottled;
                }

                // Claimed with a conditional update, so two racing requests send one notice.
                if (!await ClaimMailSlotAsync(subscriber.Id, subscriber.LastConfirmationSentAt, now, ct))
                {
                    return SubscribeOutcome.AlreadyActiveThrottled;
                }

                jobs.Enqueue<SubscriberMailJob>(j => j.SendAlreadySubscribedAsync(subscriber.Id, CancellationToken.None));
                return SubscribeOutcome.AlreadyActiveNoticeSent;

            case SubscriberStatus.Pending:
                if (recentlyMailed || !await ClaimMailSlotAsync(subscriber.Id, subscriber.LastConfirmationSentAt, now, ct))
                {
                    return SubscribeOutcome.ConfirmationThrottled;
                }

                jobs.Enqueue<SubscriberMailJob>(j => j.SendConfirmationAsync(subscriber.Id, CancellationToken.None));
                return SubscribeOutcome.ConfirmationResent;

            default:
                // Unsubscribed (or bounced/complained without a suppression): coming back needs a new
                // double opt-in, never a silent re-activation.
                if (recentlyMailed || !await ClaimMailSlotAsync(subscriber.Id, subscriber.LastConfirmationSentAt, now, ct))
                {
                    return SubscribeOutcome.ConfirmationThrottled;
                }

                await using (var tx = await db.Database.BeginTransactionAsync(ct))
                {
                    await db.Subscribers.Where(s => s.Id == subscriber.Id)
                        .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Pending).SetProperty(s => s.Source, source), ct);
                    await RecordAsync(subscriber.Id, SubscriberEventKind.Subscribed, source, "subscribed again", ct);
                    await tx.CommitAsync(ct);
                }

                jobs.Enqueue<SubscriberMailJob>(j => j.SendConfirmationAsync(subscriber.Id, CancellationToken.None));
                return SubscribeOutcome.ConfirmationSent;
        }
    }

    /// <summary>Confirms a pending subscriber. A used or stale token of an active subscriber is a calm no-op.</summary>
    public async Task<ConfirmResult> ConfirmAsync(ConfirmationToken token, CancellationToken ct)
    {
        if (token.State == TokenState.Invalid)
        {
            return ConfirmResult.Invalid;
        }

        var subscriber = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(s => s.Id == token.SubscriberId, ct);
        if (subscriber is null)
        {
            return ConfirmResult.Invalid;
        }

        if (subscriber.Status == SubscriberStatus.Active)
        {
            return ConfirmResult.AlreadyConfirmed;
        }

        if (token.State == TokenState.Expired)
        {
            return ConfirmResult.Expired;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        // The status and its history line commit together, so the history never misses a change.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // The version check makes the link single-use, and makes a double click confirm once.
        var changed = await db.Subscribers
            .Where(s => s.Id == token.SubscriberId && s.TokenVersion == token.Version && s.Status == SubscriberStatus.Pending)
            .ExecuteUpdateAsync(u => u
                .SetProperty(s => s.Status, SubscriberStatus.Active)
                .SetProperty(s => s.ConfirmedAt, now)
                .SetProperty(s => s.TokenVersion, s => s.TokenVersion + 1), ct);
        if (changed == 0)
        {
            var current = await db.Subscribers.AsNoTracking().Where(s => s.Id == token.SubscriberId).Select(s => s.Status).FirstOrDefaultAsync(ct);
            return current == SubscriberStatus.Active ? ConfirmResult.AlreadyConfirmed : ConfirmResult.Invalid;
        }

        await RecordAsync(token.SubscriberId, SubscriberEventKind.Confirmed, "link", null, ct);
        await tx.CommitAsync(ct);
        jobs.Enqueue<SubscriberMailJob>(j => j.SendWelcomeAsync(token.SubscriberId, CancellationToken.None));
        return ConfirmResult.Confirmed;
    }

    public async Task<bool> UnsubscribeAsync(long subscriberId, string source, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var changed = await db.Subscribers
                .Where(s => s.Id == subscriberId && (s.Status == SubscriberStatus.Active || s.Status == SubscriberStatus.Pending))
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Unsubscribed).SetProperty(s => s.UnsubscribedAt, now), ct);
            if (changed > 0)
            {
                await RecordAsync(subscriberId, SubscriberEventKind.Unsubscribed, source, null, ct);
                await tx.CommitAsync(ct);
                return true;
            }
        }

        return await db.Subscribers.AnyAsync(s => s.Id == subscriberId, ct);
    }

    /// <summary>The mailbox doesn't exist: the subscriber is Bounced and the address suppressed for good.</summary>
    public async Task MarkBouncedAsync(long subscriberId, string detail, CancellationToken ct)
    {
        var key = await db.Subscribers.Where(s => s.Id == subscriberId).Select(s => s.EmailKey).FirstOrDefaultAsync(ct);
        if (key is null)
        {
            return;
        }

        // The status, the suppression and the history line commit together: a reader seen as Bounced is
        // always suppressed too, and a crash between the writes cannot leave a bounced address mailable.
        var hash = Subscriber.HashOf(key);
        var at = clock.GetUtcNow().UtcDateTime;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.Subscribers.Where(s => s.Id == subscriberId).ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Bounced), ct);
        if (!await db.Suppressions.AnyAsync(x => x.EmailHash == hash, ct))
        {
            // A second bounce for this reader waits until this one commits, then sees the suppression: the
            // update above holds the write lock (SQLite, IMMEDIATE) or the reader's row lock (PostgreSQL).
            db.Suppressions.Add(new Suppression { EmailHash = hash, Reason = SuppressionReason.HardBounce, CreatedAt = at });
        }

        Record(subscriberId, SubscriberEventKind.Bounced, "smtp", detail.Length > 1000 ? detail[..1000] : detail);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }

    public async Task RecordAsync(long subscriberId, SubscriberEventKind kind, string source, string? detail, CancellationToken ct)
    {
        Record(subscriberId, kind, source, detail);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Adds a history line to the context without saving: the caller's next SaveChanges commits it with its own changes.</summary>
    public void Record(long subscriberId, SubscriberEventKind kind, string source, string? detail) =>
        db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = subscriberId, Kind = kind, Source = source, Detail = detail, At = clock.GetUtcNow().UtcDateTime });

    private async Task<bool> ClaimMailSlotAsync(long id, DateTime? previous, DateTime now, CancellationToken ct) =>
        await db.Subscribers.Where(s => s.Id == id && s.LastConfirmationSentAt == previous)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.LastConfirmationSentAt, now), ct) == 1;

    private static string? Clean(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        // Names end up in email headers: no control characters, ever.
        var cleaned = (name.Any(char.IsControl) ? new string([.. name.Where(c => !char.IsControl(c))]) : name).Trim();
        return cleaned.Length == 0 ? null : cleaned.Length > 200 ? cleaned[..200] : cleaned;
    }

    public static string? CleanName(string? name) => Clean(name);
}

public enum ConfirmResult
{
    Confirmed,
    AlreadyConfirmed,
    Expired,
    Invalid,
}
