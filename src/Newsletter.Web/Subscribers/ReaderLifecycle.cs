using System.Data.Common;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers;

/// <summary>What happened on a subscribe request. Never shown to the visitor: every outcome looks the same.</summary>
public enum SubscribeOutcome
{
    ConfirmationSent,
    ConfirmationResent,

    /// <summary>One went out less than the interval ago: the next goes by itself when the interval is up.</summary>
    ConfirmationScheduled,

    /// <summary>One is already waiting for its moment (or a racing request took the slot): nothing more is sent.</summary>
    ConfirmationThrottled,
    AlreadyActiveNoticeSent,
    AlreadyActiveNoticeScheduled,
    AlreadyActiveThrottled,
    Suppressed,

    /// <summary>The address had its sign-ups for the hour (Subscriptions:PerAddressPerHour, all nodes together): nothing is done or sent.</summary>
    AddressLimited,
}

/// <summary>Why a reader is lost for good: the state they get and the suppression that keeps them out.</summary>
public enum ReaderLoss
{
    /// <summary>The address is dead (<see cref="BounceRule"/>): Bounced.</summary>
    HardBounce,

    /// <summary>The reader marked an issue as spam: Complained.</summary>
    Complaint,
}

/// <summary>What an author's "add a reader" did.</summary>
public enum AddReaderResult
{
    Added,
    Suppressed,
    AlreadyOnList,
}

/// <summary>
/// The one owner of every change to a reader: subscribe, confirm, unsubscribe, preferences, an author's
/// edits, bounces (in the SMTP session and by report), complaints, delete and erase. Each change and the
/// history line (SubscriberEvents) that records it commit together; every suppression is written here.
/// Emails are never sent here: a Hangfire job with the subscriber's id is enqueued instead, so the request
/// stays fast and an SMTP outage loses no confirmation.
/// </summary>
public sealed class ReaderLifecycle(AppDbContext db, AddressHashes hashes, NewReaderQueue newReaders, IBackgroundJobClient jobs, IOptions<SubscriptionOptions> options, TimeProvider clock, EraseHygiene hygiene, OutboxReader outbox, Data.Providers.ImportFiles importFiles, PendingMails pendingMails, SharedRateLimiter limiter, Content.ContentChanges contentChanges, ILogger<ReaderLifecycle> logger)
{
    /// <summary>
    /// Takes one stored sign-up (<see cref="SignUpWriter"/>): the reader, their history, the email they get and
    /// the sign-up's removal commit together, then the email is handed to Hangfire. Null when the row is gone:
    /// another node's dispatcher took it (on PostgreSQL this waits on its row lock, then finds it deleted).
    /// </summary>
    public async Task<SubscribeOutcome?> TakeSignUpAsync(long signUpId, CancellationToken ct)
    {
        var mails = new List<PendingMail>();
        SubscribeOutcome outcome;
        using (await newReaders.WaitAsync(ct))
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var signUp = await db.SignUps.AsNoTracking().FirstOrDefaultAsync(s => s.Id == signUpId, ct);
            // The delete is the claim, first in the transaction so no one else's dispatcher writes this reader.
            if (signUp is null || await db.SignUps.Where(s => s.Id == signUpId).ExecuteDeleteAsync(ct) == 0)
            {
                return null;
            }

            outcome = (await WithinAddressLimitAsync([Subscriber.KeyOf(signUp.Email)], ct))[0]
                ? await SubscribeWithinAsync(signUp.Email, signUp.Name, signUp.Source, signUp.TopicList, mails, ct)
                : SubscribeOutcome.AddressLimited;
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        await pendingMails.HandOverAsync(mails, ct);
        return outcome;
    }

    /// <summary>
    /// Takes each sign-up's permit of the hourly per-address limit, in the caller's transaction, so a permit stays
    /// counted only if the work it let through commits. Counted here and not on the request (<see cref="SignUpWriter"/>):
    /// the request then does the same work for every address, one at its limit too, and its commit writes no row
    /// per address; the row lands in this transaction, beside the reader rows it writes for the address anyway.
    /// </summary>
    private Task<bool[]> WithinAddressLimitAsync(IReadOnlyList<string> keys, CancellationToken ct) =>
        limiter.TryAcquireEachAsync(options.Value.PerAddressLimit, [.. keys.Select(MailboxKey)], ct);

    /// <summary>
    /// The mailbox an address reaches, for the hourly limit: ann+1@ and ann+2@ land in one inbox at nearly every
    /// provider, so a stranger cycling the +tag would otherwise send it a confirmation for each.
    /// </summary>
    internal static string MailboxKey(string key)
    {
        var at = key.LastIndexOf('@');
        var plus = at > 0 ? key.IndexOf('+', 0, at) : -1;
        return plus > 0 ? string.Concat(key.AsSpan(0, plus), key.AsSpan(at)) : key;
    }

    /// <summary>
    /// Takes stored sign-ups together, in one transaction: after a burst the dispatcher has thousands waiting, and
    /// one transaction each (ten statements and a commit, each a round trip on PostgreSQL) was what limited how
    /// soon their confirmations left. New addresses, the usual case, are looked up and inserted as one set; an
    /// address already on the list, suppressed, or twice in the batch goes the one-at-a-time way, in the same
    /// transaction and in the batch's order, so each sees the readers before it. Null, with nothing written, when
    /// some of the sign-ups are gone (another node's dispatcher took them): the caller then takes each on its own,
    /// as it does when this throws (a refused insert: an address another node added meanwhile).
    /// </summary>
    public async Task<IReadOnlyList<(long Id, SubscribeOutcome Outcome)>?> TakeSignUpsAsync(IReadOnlyCollection<long> ids, CancellationToken ct)
    {
        var mails = new List<PendingMail>();
        var outcomes = new List<(long, SubscribeOutcome)>(ids.Count);
        using (await newReaders.WaitAsync(ct))
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var signUps = await db.SignUps.AsNoTracking().Where(s => ids.Contains(s.Id)).OrderBy(s => s.Id).ToListAsync(ct);
            // The delete is the claim, all of the batch or none of it: a count short of the batch means another
            // dispatcher got there first, and its rows are left to the one-at-a-time way, which skips them.
            if (signUps.Count != ids.Count || await db.SignUps.Where(s => ids.Contains(s.Id)).ExecuteDeleteAsync(ct) != ids.Count)
            {
                return null;
            }

            var keys = signUps.Select(s => Subscriber.KeyOf(s.Email)).ToArray();
            var allowed = await WithinAddressLimitAsync(keys, ct);
            // Hashed here, not inside the query (as in SubscribeWithinAsync).
            var keyHashes = keys.Select(hashes.Of).ToArray();
            var suppressed = (await db.Suppressions.Where(s => keyHashes.Contains(s.EmailHash)).Select(s => s.EmailHash).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
            var taken = (await db.Subscribers.Where(s => keys.Contains(s.EmailKey)).Select(s => s.EmailKey).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
            var now = clock.GetUtcNow().UtcDateTime;
            var fresh = new List<(SignUp SignUp, Subscriber Reader)>();
            var others = new List<SignUp>();
            for (var i = 0; i < signUps.Count; i++)
            {
                if (!allowed[i])
                {
                    outcomes.Add((signUps[i].Id, SubscribeOutcome.AddressLimited));
                }
                else if (suppressed.Contains(keyHashes[i]))
                {
                    outcomes.Add((signUps[i].Id, Suppressed()));
                }
                else if (taken.Add(keys[i]))
                {
                    var reader = NewReader(signUps[i].Email, keys[i], signUps[i].Name, signUps[i].Source, signUps[i].TopicList, now);
                    db.Subscribers.Add(reader);
                    fresh.Add((signUps[i], reader));
                }
                else
                {
                    others.Add(signUps[i]);
                }
            }

            await db.SaveChangesAsync(ct);
            foreach (var (signUp, reader) in fresh)
            {
                outcomes.Add((signUp.Id, AfterNewReader(reader, signUp.Source, now, mails)));
            }

            await db.SaveChangesAsync(ct);
            foreach (var signUp in others)
            {
                outcomes.Add((signUp.Id, await SubscribeWithinAsync(signUp.Email, signUp.Name, signUp.Source, signUp.TopicList, mails, ct)));
                // Saved one by one: a refused insert in the next one clears the tracker, which must hold nothing unsaved.
                await db.SaveChangesAsync(ct);
            }

            await tx.CommitAsync(ct);
        }

        await pendingMails.HandOverAsync(mails, ct);
        return outcomes;
    }

    /// <summary>
    /// A sign-up. <paramref name="topics"/> (checked against those offered) become the tags of a new reader only: a
    /// stranger typing in someone's address must not change an existing reader's choices.
    /// </summary>
    public async Task<SubscribeOutcome> SubscribeAsync(string email, string? name, string source, CancellationToken ct, IReadOnlyCollection<string>? topics = null)
    {
        var mails = new List<PendingMail>();
        SubscribeOutcome outcome;
        using (await newReaders.WaitAsync(ct))
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            outcome = await SubscribeWithinAsync(email, name, source, topics ?? [], mails, ct);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        await pendingMails.HandOverAsync(mails, ct);
        return outcome;
    }

    /// <summary>
    /// The sign-up's work inside the caller's transaction (on SQLite, inside its turn at the write lock, taken
    /// in the queue's order instead of SQLite's busy handler). The email it decides on is added to the context
    /// as a <see cref="PendingMail"/> (and to <paramref name="mails"/>), so it commits with the reader.
    /// </summary>
    private async Task<SubscribeOutcome> SubscribeWithinAsync(string email, string? name, string source, IReadOnlyCollection<string> topics, List<PendingMail> mails, CancellationToken ct)
    {
        var key = Subscriber.KeyOf(email);
        // Hashed here, not inside the query: EF would compile the call into a new delegate on every request.
        var hash = hashes.Of(key);
        if (await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct))
        {
            return Suppressed();
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var subscriber = await db.Subscribers.FirstOrDefaultAsync(s => s.EmailKey == key, ct);
        if (subscriber is null)
        {
            subscriber = NewReader(email, key, name, source, topics, now);
            db.Subscribers.Add(subscriber);
            try
            {
                // Inside a transaction EF saves to a savepoint, so a refused insert leaves the rest standing.
                await db.SaveChangesAsync(ct);
                return AfterNewReader(subscriber, source, now, mails);
            }
            catch (DbUpdateException e) when (db.IsUniqueViolation(e))
            {
                // Another node (or process on the same file) inserted this address first. The loser of the race
                // is a sign-up for a reader who exists now: the mail slot decides, as for any repeat (within the
                // resend interval that is one confirmation for the two; past it, one each).
                db.ChangeTracker.Clear();
                subscriber = await db.Subscribers.FirstOrDefaultAsync(s => s.EmailKey == key, ct);
                if (subscriber is null)
                {
                    return SubscribeOutcome.ConfirmationThrottled;
                }
            }
        }

        switch (subscriber.Status)
        {
            case SubscriberStatus.Active:
                // Claimed with a conditional update, so two racing requests send one notice.
                return await ClaimMailSlotAsync(subscriber, now, ct) is { } noticeAt
                    ? Mail(subscriber.Id, PendingMailKind.AlreadySubscribed, noticeAt, now, mails) ? SubscribeOutcome.AlreadyActiveNoticeSent : SubscribeOutcome.AlreadyActiveNoticeScheduled
                    : SubscribeOutcome.AlreadyActiveThrottled;

            case SubscriberStatus.Pending:
                return await ClaimMailSlotAsync(subscriber, now, ct) is { } resendAt
                    ? Mail(subscriber.Id, PendingMailKind.Confirmation, resendAt, now, mails) ? SubscribeOutcome.ConfirmationResent : SubscribeOutcome.ConfirmationScheduled
                    : SubscribeOutcome.ConfirmationThrottled;

            default:
                // Unsubscribed (or bounced/complained without a suppression): coming back needs a new
                // double opt-in, never a silent re-activation.
                if (await ClaimMailSlotAsync(subscriber, now, ct) is not { } confirmAt)
                {
                    return SubscribeOutcome.ConfirmationThrottled;
                }

                await db.Subscribers.Where(s => s.Id == subscriber.Id)
                    .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Pending).SetProperty(s => s.Source, source), ct);
                Record(subscriber.Id, SubscriberEventKind.Subscribed, source, "subscribed again");
                return Mail(subscriber.Id, PendingMailKind.Confirmation, confirmAt, now, mails) ? SubscribeOutcome.ConfirmationSent : SubscribeOutcome.ConfirmationScheduled;
        }
    }

    /// <summary>A reader who signed up just now: pending, their confirmation's slot taken, the topics they ticked as tags.</summary>
    private static Subscriber NewReader(string email, string key, string? name, string source, IReadOnlyCollection<string> topics, DateTime now)
    {
        var subscriber = new Subscriber { Email = email, EmailKey = key, Name = Clean(name), Status = SubscriberStatus.Pending, Source = source, CreatedAt = now, LastConfirmationSentAt = now };
        foreach (var topic in topics.Distinct())
        {
            subscriber.Tags.Add(new SubscriberTag { Tag = topic });
        }

        return subscriber;
    }

    /// <summary>Once a new reader's insert gave it an id: its history line and its confirmation, in the same transaction.</summary>
    private SubscribeOutcome AfterNewReader(Subscriber reader, string source, DateTime now, List<PendingMail> mails)
    {
        db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = reader.Id, Kind = SubscriberEventKind.Subscribed, Source = source, At = now });
        mails.Add(pendingMails.Add(reader.Id, PendingMailKind.Confirmation, now));
        return SubscribeOutcome.ConfirmationSent;
    }

    // The address is not logged: a suppression is kept for addresses that asked to be forgotten.
    private SubscribeOutcome Suppressed()
    {
        logger.LogInformation("Subscribe request for a suppressed address ignored");
        return SubscribeOutcome.Suppressed;
    }

    /// <summary>
    /// Takes the reader's next slot for an email the public form triggers: now, when the last one is older than
    /// the interval; else the moment the interval is up, so a request is never dropped while the page says an
    /// email is coming. Null when a later one is already waiting, or a racing request took the slot: an
    /// address gets at most one such email per interval however often a stranger types it in.
    /// </summary>
    private async Task<DateTime?> ClaimMailSlotAsync(Subscriber subscriber, DateTime now, CancellationToken ct)
    {
        var last = subscriber.LastConfirmationSentAt;
        if (last > now)
        {
            return null;
        }

        var interval = options.Value.ResendConfirmationInterval;
        var at = last is { } l && now - l < interval ? l + interval : now;
        var claimed = await db.Subscribers.Where(s => s.Id == subscriber.Id && s.LastConfirmationSentAt == last)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.LastConfirmationSentAt, at), ct) == 1;
        return claimed ? at : null;
    }

    /// <summary>Adds the email for its slot to the transaction's pending mails; true when it goes now.</summary>
    private bool Mail(long subscriberId, PendingMailKind kind, DateTime at, DateTime now, List<PendingMail> mails)
    {
        mails.Add(pendingMails.Add(subscriberId, kind, at));
        return at <= now;
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
            return token.SubscriberId > 0 ? ConfirmResult.Erased : ConfirmResult.Invalid;
        }

        if (subscriber.Status == SubscriberStatus.Active)
        {
            return ConfirmResult.AlreadyConfirmed;
        }

        if (subscriber.Status != SubscriberStatus.Pending)
        {
            // Left since (or bounced): an old confirmation link must not bring them back; a new sign-up can.
            return ConfirmResult.Left;
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
            return current switch
            {
                SubscriberStatus.Active => ConfirmResult.AlreadyConfirmed,
                // Pending, with a link we signed: a newer one was sent since and only that one confirms.
                SubscriberStatus.Pending => ConfirmResult.Replaced,
                _ => ConfirmResult.Left,
            };
        }

        // The welcome series starts with the confirmation, in its transaction. When its first step goes out at
        // once, that step is the reader's welcome: the built-in one as well made two "welcome" emails in a minute.
        // Only a reader who signed up on the site: one an author added or imported (pending, so confirming here) is
        // on a list that existed before, and a migrated list confirming again got the whole series.
        var source = await db.Subscribers.AsNoTracking().Where(s => s.Id == token.SubscriberId).Select(s => s.Source).FirstAsync(ct);
        var joined = SignedUpOnTheSite(source) && await Welcome.WelcomeSeries.JoinAsync(db, token.SubscriberId, now, ct) > 0;
        var seriesGreets = joined && await Welcome.WelcomeSeries.GreetsAtOnceAsync(db, ct);
        // The welcome email is stored with the confirmation (an outbox), so a stop right after the commit
        // delays it instead of losing it.
        var welcome = seriesGreets ? null : pendingMails.Add(token.SubscriberId, PendingMailKind.Welcome, now);
        await RecordAsync(token.SubscriberId, SubscriberEventKind.Confirmed, "link", null, ct);
        await tx.CommitAsync(ct);
        await pendingMails.HandOverAsync(welcome is null ? [] : [welcome], ct);
        try
        {
            // Only a nudge: the series' recurring job finds the new member anyway.
            jobs.Enqueue<Welcome.WelcomeJob>(j => j.RunAsync(CancellationToken.None));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The confirmation has committed, so the reader is told so; the recurring run starts their series.
            logger.LogWarning(e, "Could not queue the welcome series' run after reader {Id} confirmed; its recurring run will take them", token.SubscriberId);
        }

        return ConfirmResult.Confirmed;
    }

    public async Task<bool> UnsubscribeAsync(long subscriberId, string source, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var changed = await db.Subscribers
                .Where(s => s.Id == subscriberId && (s.Status == SubscriberStatus.Active || s.Status == SubscriberStatus.Pending))
                // Only the owner of the inbox holds this link, so the form's wait between emails starts afresh: a
                // reader who leaves and comes straight back gets the confirmation at once.
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Unsubscribed).SetProperty(s => s.UnsubscribedAt, now)
                    .SetProperty(s => s.LastConfirmationSentAt, (DateTime?)null), ct);
            if (changed > 0)
            {
                await RecordAsync(subscriberId, SubscriberEventKind.Unsubscribed, source, null, ct);
                await tx.CommitAsync(ct);
                return true;
            }
        }

        return await db.Subscribers.AnyAsync(s => s.Id == subscriberId, ct);
    }

    /// <summary>
    /// A hard bounce or a complaint: the reader is Bounced or Complained and the address suppressed for good.
    /// Joins the caller's transaction when there is one (a bounce report fails its delivery in the same commit).
    /// The same report twice changes nothing and writes no second history line.
    /// </summary>
    public async Task SuppressAsync(long subscriberId, ReaderLoss loss, string source, string detail, CancellationToken ct)
    {
        var (status, reason, kind) = Of(loss);
        await using var tx = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(ct) : null;
        var subscriber = await db.Subscribers.FirstOrDefaultAsync(s => s.Id == subscriberId, ct);
        if (subscriber is null)
        {
            return; // erased since: only its hash remains, which is suppressed already
        }

        var hash = hashes.Of(subscriber.EmailKey);
        var suppressed = await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct);
        if (subscriber.Status == status && suppressed)
        {
            return;
        }

        subscriber.Status = status;
        if (!suppressed)
        {
            db.Suppressions.Add(new Suppression { EmailHash = hash, Reason = reason, CreatedAt = clock.GetUtcNow().UtcDateTime });
        }

        Record(subscriberId, kind, source, Cut(detail));
        await db.SaveChangesAsync(ct);
        if (tx is not null)
        {
            await tx.CommitAsync(ct);
        }
    }

    /// <summary>
    /// Hard bounces from a batch of SMTP outcomes, in the ledger's own open transaction, so the outcome write and
    /// the suppression commit together. Plain commands on the ledger's connection: it writes outcomes without
    /// the change tracker, and one reader at a time here keeps its batches short.
    /// </summary>
    public static void SuppressInLedger(AppDbContext db, IDbContextTransaction tx, AddressHashes hashes, IEnumerable<long> subscriberIds, DateTime at)
    {
        var (status, reason, kind) = Of(ReaderLoss.HardBounce);
        foreach (var id in subscriberIds)
        {
            using var find = db.Command(tx, """SELECT "EmailKey" FROM "Subscribers" WHERE "Id" = @id""", ("@id", id));
            if (find.ExecuteScalar() is not string key)
            {
                continue;
            }

            using var update = db.Command(tx, """UPDATE "Subscribers" SET "Status" = @status WHERE "Id" = @id""", ("@status", (int)status), ("@id", id));
            update.ExecuteNonQuery();
            using var suppress = db.Command(tx, """
                INSERT INTO "Suppressions" ("EmailHash", "Reason", "CreatedAt") VALUES (@hash, @reason, @at) ON CONFLICT ("EmailHash") DO NOTHING
                """, ("@hash", hashes.Of(key)), ("@reason", (int)reason), ("@at", at));
            suppress.ExecuteNonQuery();
            using var history = db.Command(tx, """
                INSERT INTO "SubscriberEvents" ("SubscriberId", "At", "Kind", "Source", "Detail") VALUES (@id, @at, @kind, @source, @detail)
                """, ("@id", id), ("@at", at), ("@kind", (int)kind), ("@source", "smtp"), ("@detail", "hard bounce: address suppressed"));
            history.ExecuteNonQuery();
        }
    }

    private static (SubscriberStatus Status, SuppressionReason Reason, SubscriberEventKind Kind) Of(ReaderLoss loss) => loss switch
    {
        ReaderLoss.HardBounce => (SubscriberStatus.Bounced, SuppressionReason.HardBounce, SubscriberEventKind.Bounced),
        ReaderLoss.Complaint => (SubscriberStatus.Complained, SuppressionReason.Complaint, SubscriberEventKind.Complained),
        _ => throw new ArgumentOutOfRangeException(nameof(loss)),
    };

    /// <summary>
    /// The reader's own choices on the preferences page: name, topics (only those offered), whether to get only issues
    /// on those topics or everything, a pause. "Only these topics" with none ticked would mean nothing at all, which is
    /// what unsubscribing is for: it stays "everything".
    /// </summary>
    public async Task ChangePreferencesAsync(long subscriberId, string? name, IReadOnlyCollection<string> offered, IReadOnlyCollection<string> chosen, bool topicsOnly, string? pause, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // Only the topic tags are the reader's to change; tags the author set (vip, cohort...) stay. Written
        // before anything is read: on SQLite a transaction that reads first cannot take the write lock once
        // another save committed, so a double click would fail instead of waiting its turn.
        var tagsChanged = await SetTagsAsync(subscriberId, offered, chosen, ct);
        var s = await db.Subscribers.FirstAsync(x => x.Id == subscriberId, ct);
        s.Name = Clean(name);
        s.TopicsOnly = topicsOnly && chosen.Count > 0;
        var now = clock.GetUtcNow().UtcDateTime;
        if (pause == "resume")
        {
            s.PausedUntil = null;
        }
        else if (int.TryParse(pause, out var days) && days is > 0 and <= 365)
        {
            s.PausedUntil = now.AddDays(days);
        }

        // One SaveChanges, one transaction: the preferences and the history line that records them. A save that
        // changed nothing (the form sent back as it came) is no event: each one showed in the reader's history and
        // data download. The tracker compares with what it read, so a value set to what it was is no change.
        if (tagsChanged || db.Entry(s).State == EntityState.Modified)
        {
            Record(s.Id, SubscriberEventKind.PreferencesChanged, "preferences",
                $"topics: {string.Join(", ", chosen.Order())}{(s.TopicsOnly ? " (only these)" : "")}{(s.PausedUntil > now ? $"; paused until {s.PausedUntil:yyyy-MM-dd}" : "")}");
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Makes the reader's tags within <paramref name="scope"/> (all of them when null) exactly <paramref name="wanted"/>,
    /// by statements that hold when the same change runs twice at once. Tracked tag rows made a double-clicked Save
    /// a 500: the second request's insert hit the key the first had just added, or its delete found no row.
    /// </summary>
    /// <returns>Whether a tag was added or taken away.</returns>
    private async Task<bool> SetTagsAsync(long subscriberId, IReadOnlyCollection<string>? scope, IReadOnlyCollection<string> wanted, CancellationToken ct)
    {
        var gone = db.SubscriberTags.Where(t => t.SubscriberId == subscriberId && !wanted.Contains(t.Tag));
        if (scope is not null)
        {
            gone = gone.Where(t => scope.Contains(t.Tag));
        }

        var changed = await gone.ExecuteDeleteAsync(ct);
        foreach (var tag in wanted.Distinct(StringComparer.Ordinal))
        {
            changed += await db.Database.ExecuteSqlAsync($"""INSERT INTO "SubscriberTags" ("SubscriberId", "Tag") VALUES ({subscriberId}, {tag}) ON CONFLICT DO NOTHING""", ct);
        }

        return changed > 0;
    }

    /// <summary>An author sets a reader's name and tags (in the admin, or "api" through a token). False when the reader is gone.</summary>
    public async Task<bool> EditByAuthorAsync(long subscriberId, string? name, IReadOnlySet<string> tags, string source, CancellationToken ct)
    {
        // What it was, for the history line: it says what the author changed, not "name and tags" for every save.
        // Read before the write that opens the transaction (see ChangePreferencesAsync); only the line's wording
        // depends on it.
        var before = await db.Subscribers.AsNoTracking().Where(x => x.Id == subscriberId)
            .Select(x => new { x.Name, Tags = x.Tags.Select(t => t.Tag).ToList() }).FirstOrDefaultAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // A write first (see ChangePreferencesAsync), which also says whether the reader is still there.
        var cleanName = Clean(name);
        if (await db.Subscribers.Where(x => x.Id == subscriberId).ExecuteUpdateAsync(u => u.SetProperty(x => x.Name, cleanName), ct) == 0)
        {
            return false;
        }

        await SetTagsAsync(subscriberId, null, tags, ct);
        var nameChanged = before is null || before.Name != cleanName;
        var tagsChanged = before is null || !before.Tags.ToHashSet(StringComparer.Ordinal).SetEquals(tags);
        if (nameChanged || tagsChanged)
        {
            var list = tags.Count == 0 ? "none" : string.Join(", ", tags.Order(StringComparer.Ordinal));
            Record(subscriberId, SubscriberEventKind.EditedByAuthor, source,
                nameChanged && tagsChanged ? $"name and tags: {list}" : nameChanged ? "name" : $"tags: {list}");
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>
    /// An author adds a reader: active with a recorded consent, or pending with a confirmation. The admin form
    /// may add addresses the public form refuses (an intranet list on a private domain): the author vouches.
    /// </summary>
    /// <summary>Whether a reader's <see cref="Subscriber.Source"/> is a page of the site rather than an author's add or an import.</summary>
    public static bool SignedUpOnTheSite(string source) =>
        source is not (Api.SubscribersApi.Source or AddedInTheAdmin) && !source.StartsWith("import:", StringComparison.Ordinal);

    /// <summary>The <see cref="Subscriber.Source"/> of a reader added on the admin's page.</summary>
    public const string AddedInTheAdmin = "admin";

    public async Task<(AddReaderResult Result, long Id)> AddByAuthorAsync(string email, string? name, IEnumerable<string> tags, string? consent, string source, CancellationToken ct)
    {
        var key = Subscriber.KeyOf(email);
        var hash = hashes.Of(key);
        if (await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct))
        {
            return (AddReaderResult.Suppressed, 0);
        }

        if (await db.Subscribers.AnyAsync(s => s.EmailKey == key, ct))
        {
            return (AddReaderResult.AlreadyOnList, 0);
        }

        var active = consent is not null;
        var now = clock.GetUtcNow().UtcDateTime;
        var s = new Subscriber
        {
            Email = email,
            EmailKey = key,
            Name = Clean(name),
            Status = active ? SubscriberStatus.Active : SubscriberStatus.Pending,
            Source = source,
            ConsentSource = consent?.Trim(),
            CreatedAt = now,
            ConfirmedAt = active ? now : null,
            LastConfirmationSentAt = active ? null : now,
        };
        foreach (var tag in tags)
        {
            s.Tags.Add(new SubscriberTag { Tag = tag });
        }

        // The reader, the history line that says who added them, with what consent, and their confirmation
        // commit together.
        var mails = new List<PendingMail>();
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            db.Subscribers.Add(s);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (db.IsUniqueViolation(e))
            {
                db.ChangeTracker.Clear();
                return (AddReaderResult.AlreadyOnList, 0);
            }

            Record(s.Id, SubscriberEventKind.AddedByAuthor, source, active ? $"active; consent: {s.ConsentSource}" : "pending; confirmation sent");
            if (!active)
            {
                mails.Add(pendingMails.Add(s.Id, PendingMailKind.Confirmation, now));
            }

            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        await pendingMails.HandOverAsync(mails, ct);

        return (AddReaderResult.Added, s.Id);
    }

    /// <summary>
    /// An author suppresses an address by hand (someone asked, by letter or phone, never to be written to): only
    /// its hash is stored, so the address need not be on the list, and a reader who has it stops receiving
    /// (Unsubscribed, with a history line) in the same transaction. False when it was suppressed already.
    /// </summary>
    public async Task<bool> SuppressAddressAsync(string email, string source, CancellationToken ct)
    {
        var key = Subscriber.KeyOf(email);
        var hash = hashes.Of(key);
        var now = clock.GetUtcNow().UtcDateTime;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct))
        {
            return false;
        }

        db.Suppressions.Add(new Suppression { EmailHash = hash, Reason = SuppressionReason.Manual, CreatedAt = now });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (db.IsUniqueViolation(e))
        {
            db.ChangeTracker.Clear();
            return false; // a second request suppressed it a moment ago
        }

        var id = await db.Subscribers.Where(s => s.EmailKey == key).Select(s => (long?)s.Id).FirstOrDefaultAsync(ct);
        if (id is { } subscriberId && await db.Subscribers
            .Where(s => s.Id == subscriberId && (s.Status == SubscriberStatus.Active || s.Status == SubscriberStatus.Pending))
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Unsubscribed).SetProperty(s => s.UnsubscribedAt, now), ct) > 0)
        {
            await RecordAsync(subscriberId, SubscriberEventKind.Unsubscribed, source, "address suppressed by an author", ct);
        }

        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>
    /// Lifts the suppression of an address, by an author's decision: a hard bounce from a mail server's passing
    /// fault, a complaint made by mistake, a manual block, or an erased person who asked to come back. A bounced or
    /// complained reader becomes unsubscribed, so nothing is sent until they subscribe again (double opt-in) or an
    /// author adds them. False when the address was not suppressed.
    /// </summary>
    public async Task<bool> LiftSuppressionAsync(string email, string source, CancellationToken ct)
    {
        var key = Subscriber.KeyOf(email);
        var hash = hashes.Of(key);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (await db.Suppressions.Where(s => s.EmailHash == hash).ExecuteDeleteAsync(ct) == 0)
        {
            return false; // not suppressed, or a second click lifted it a moment ago
        }

        var id = await db.Subscribers.Where(s => s.EmailKey == key).Select(s => (long?)s.Id).FirstOrDefaultAsync(ct);
        if (id is { } subscriberId)
        {
            await db.Subscribers.Where(s => s.Id == subscriberId && (s.Status == SubscriberStatus.Bounced || s.Status == SubscriberStatus.Complained))
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Unsubscribed), ct);
            await RecordAsync(subscriberId, SubscriberEventKind.EditedByAuthor, source, "suppression lifted: the address may subscribe or be added again", ct);
        }

        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>
    /// Deletes a reader. Erase (a GDPR request) also removes every row that holds the address or the person's
    /// history and leaves only a hash in Suppressions (<see cref="AddressHashes"/>), which imports and
    /// subscribe requests check. Nothing of the reader is left to record the erase against: the log says it.
    /// </summary>
    /// <returns>False when the reader was already gone (the second of a double click).</returns>
    /// <summary>
    /// Why a reader may not be deleted (as opposed to erased), or null. One who unsubscribed is kept: deleting them
    /// forgot the choice, and an author's add or import then made them active again.
    /// </summary>
    public static string? WhyNotDeleted(SubscriberStatus status) => status == SubscriberStatus.Unsubscribed
        ? "This reader unsubscribed, so they are kept: deleting them would forget that, and an import could add them again. Erase them if they asked to be forgotten (the address then stays suppressed)."
        : null;

    public async Task<bool> DeleteAsync(long id, bool erase, CancellationToken ct)
    {
        var deleted = false;
        long? contentVersion = null;
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            var email = await db.Subscribers.Where(s => s.Id == id).Select(s => s.Email).FirstOrDefaultAsync(ct);
            if (email is null)
            {
                return false; // already gone: a double click deletes once
            }

            if (erase)
            {
                await hygiene.BeforeAsync(db, ct);
            }

            await using (var tx = await db.Database.BeginTransactionAsync(ct))
            {
                // Takes the reader's row first: of two erasures at once (a double click, on PostgreSQL's read
                // committed too) the second waits here, then finds the row gone and does nothing.
                if (await db.Subscribers.Where(s => s.Id == id).ExecuteUpdateAsync(u => u.SetProperty(s => s.TokenVersion, s => s.TokenVersion + 1), ct) == 0)
                {
                    return false;
                }

                if (erase)
                {
                    var hash = hashes.Of(email);
                    if (!await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct))
                    {
                        db.Suppressions.Add(new Suppression { EmailHash = hash, Reason = SuppressionReason.Erased, CreatedAt = clock.GetUtcNow().UtcDateTime });
                        await db.SaveChangesAsync(ct);
                    }

                    // With the erase, never after it: webhook bodies kept for display lose the address, and the
                    // "erased" event carries only the id and the keyed hash.
                    await Webhooks.WebhookOutbox.EraseAsync(db, id, hash, clock.GetUtcNow().UtcDateTime, ct);
                }
                else
                {
                    // A removal leaves no row for a trigger to fire on: without this a receiver mirroring the list
                    // kept the reader for ever. Not erased, so the event may name the address it should drop.
                    await Webhooks.WebhookOutbox.DeletedAsync(db, id, email, clock.GetUtcNow().UtcDateTime, ct);
                }

                if (erase)
                {
                    // What the person wrote to the author is theirs too: their conversations (and any comment published from them) go.
                    var key = Subscriber.KeyOf(email);
                    var threads = db.ReplyThreads.Where(t => t.SubscriberId == id || t.AddressKey == key);
                    if (await db.ReplyMessages.AnyAsync(m => threads.Any(t => t.Id == m.ThreadId) && m.PublishedAt != null, ct))
                    {
                        // A comment of theirs is on public pages, which every node caches: counted with the erase, so
                        // no node keeps showing their name and words after it.
                        contentVersion = await contentChanges.CountAsync(ct);
                    }

                    await db.ReplyMessages.Where(m => threads.Any(t => t.Id == m.ThreadId)).ExecuteDeleteAsync(ct);
                    await threads.ExecuteDeleteAsync(ct);
                    // A sign-up of the same address still waiting for the dispatcher holds it in plain text, and
                    // taking it after the erase would bring the person back: it goes with the rest.
                    await db.SignUps.Where(s => s.Email == email || s.Email.ToLower() == key).ExecuteDeleteAsync(ct);
                }
                else
                {
                    await db.ReplyThreads.Where(t => t.SubscriberId == id).ExecuteUpdateAsync(u => u.SetProperty(t => t.SubscriberId, (long?)null), ct);
                }

                // The ledger keeps what was done for its issues' numbers, with nothing that names the reader: no error
                // text (a relay's refusal quotes the address) and an id no reader has or will get (SQLite may give a
                // deleted reader's id to the next one), the line's own id negated. A line not yet final goes, as before.
                await db.Deliveries.Where(d => d.SubscriberId == id && d.Status != Sending.DeliveryStatus.Sent && d.Status != Sending.DeliveryStatus.Failed && d.Status != Sending.DeliveryStatus.Skipped)
                    .ExecuteDeleteAsync(ct);
                await db.Deliveries.Where(d => d.SubscriberId == id)
                    .ExecuteUpdateAsync(u => u.SetProperty(d => d.SubscriberId, d => -d.Id).SetProperty(d => d.LastError, (string?)null), ct);
                // The welcome series keeps its own ledger, keyed by the reader's id without a foreign key.
                await db.Set<Welcome.WelcomeDelivery>().Where(d => d.SubscriberId == id).ExecuteDeleteAsync(ct);
                await db.Set<Welcome.WelcomeReader>().Where(r => r.SubscriberId == id).ExecuteDeleteAsync(ct);
                // Its emails still waiting (a confirmation scheduled for the end of the resend wait) name only the id,
                // which on SQLite the next reader may be given: they go too.
                await db.PendingMails.Where(m => m.SubscriberId == id).ExecuteDeleteAsync(ct);
                deleted = await db.Subscribers.Where(s => s.Id == id).ExecuteDeleteAsync(ct) > 0;
                await tx.CommitAsync(ct);
            }

            if (contentVersion is { } version)
            {
                await contentChanges.RecordAsync(version, ct);
            }

            if (erase)
            {
                // The pickup folder keeps a copy of every email sent; the erased reader's go too. So do the lines of
                // imports' refused-rows files that name the address, and import errors that quote it.
                var removed = outbox.DeleteAddressedTo(email);
                var imports = await Import.SubscriberImporter.ForgetAddressAsync(db, importFiles, email, ct);
                logger.LogInformation("Erased subscriber {Id}: rows deleted, address kept only as a hash, {Count} outbox messages deleted, {Imports} import records cleaned", id, removed, imports);
            }
            else
            {
                logger.LogInformation("Deleted subscriber {Id}", id);
            }
        }
        finally
        {
            if (erase)
            {
                // Also when the other click won: secure_delete must not stay on for this pooled connection.
                await hygiene.AfterAsync(db, CancellationToken.None);
            }

            await db.Database.CloseConnectionAsync();
        }

        return deleted;
    }

    private static string Cut(string detail) => detail.Length > 1000 ? detail[..1000] : detail;

    public async Task RecordAsync(long subscriberId, SubscriberEventKind kind, string source, string? detail, CancellationToken ct)
    {
        Record(subscriberId, kind, source, detail);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Adds a history line to the context without saving: the caller's next SaveChanges commits it with its own changes.</summary>
    public void Record(long subscriberId, SubscriberEventKind kind, string source, string? detail) =>
        db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = subscriberId, Kind = kind, Source = source, Detail = detail, At = clock.GetUtcNow().UtcDateTime });

    private static string? Clean(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        // Names end up in email headers: no control characters or line separators, ever. A line break or a tab
        // becomes a space ("Ann\r\nLee" is "Ann Lee", not "AnnLee"); any other control character goes.
        var cleaned = (name.Any(Infrastructure.OneLine.IsBreak)
            ? string.Join(' ', new string([.. name.Where(c => !Infrastructure.OneLine.IsBreak(c) || char.IsWhiteSpace(c)).Select(c => char.IsWhiteSpace(c) ? ' ' : c)])
                .Split(' ', StringSplitOptions.RemoveEmptyEntries))
            : name).Trim();
        // Nor what changes how the rest reads: direction overrides and isolates turn "Ann\u202Egro.live" into a
        // reversed address in a greeting, and zero-width spaces hide inside a word. Joiners stay: Persian and Indic
        // names and emoji need them. An encoded word ("=?utf-8?B?...?=") is plain text in a name, but a mail program
        // decodes it in the To header into whatever it says ("Bcc: someone"), so it is broken up.
        if (cleaned.Any(Hidden))
        {
            cleaned = new string([.. cleaned.Where(c => !Hidden(c))]).Trim();
        }

        cleaned = cleaned.Replace("=?", "= ?", StringComparison.Ordinal);
        return cleaned.Length == 0 ? null : cleaned.Length > 200 ? cleaned[..200] : cleaned;
    }

    private static bool Hidden(char c) => c is (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069') or '\u200E' or '\u200F' or '\u061C' or '\u200B' or '\u2060' or '\uFEFF';

    public static string? CleanName(string? name) => Clean(name);
}

public enum ConfirmResult
{
    Confirmed,
    AlreadyConfirmed,

    /// <summary>The reader unsubscribed, bounced or complained since the link was sent.</summary>
    Left,
    Expired,

    /// <summary>A pending reader's older link: a newer confirmation (a second sign-up) took its place.</summary>
    Replaced,

    /// <summary>
    /// A link we signed whose reader is no longer stored: erased (only a hash of the address stays, and it keeps
    /// the address from signing up again). Not "invalid": the link came from the reader's own inbox.
    /// </summary>
    Erased,
    Invalid,
}
