using System.Data;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Sending;

/// <summary>A claimed delivery: the lease is ours until it runs out or our node stops renewing it.</summary>
public sealed record ClaimedDelivery(long Id, long SubscriberId, int Attempts, bool Uncertain);

/// <summary>What happened to one claimed delivery.</summary>
public sealed record DeliveryOutcome(long DeliveryId, long SubscriberId, DeliveryStatus Status, int? SmtpCode, string? Error, long NextAttemptAtMs, bool HardBounce);

/// <summary>An outcome, and the lease owner who must still hold its row for it to be written.</summary>
public sealed record OwnedOutcome(string Owner, DeliveryOutcome Outcome);

/// <summary>
/// The delivery ledger's set-based operations. Everything that decides who gets what happens in one
/// statement or one transaction, so two workers (threads, processes or nodes) can never claim the same row
/// and a crash can never half-apply a batch. The few statements where SQLite and PostgreSQL differ come
/// from <see cref="LedgerSql"/>; the rules are here, once.
/// </summary>
public sealed class Ledger(AppDbContext db, LedgerSql sql, AddressHashes hashes, IOptions<SendingOptions> options, IOptions<Site.SiteOptions> site, TimeProvider clock) : IDisposable
{
    // The group commit's statements, kept while whoever uses this ledger holds its connection open (the outcome writer).
    private KeptLedgerWrites? _kept;

    /// <summary>Why a delivery is Held: the copies a reader may already have.</summary>
    public const string HeldReason = "held: may have reached the reader twice already (two sends cut short); send again only if you decide to";

    public long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Copies the eligible subscribers into the ledger in one statement. Whoever is in the ledger already is
    /// left out, so a re-run after a crash adds nobody twice; the unique (issue, subscriber) index holds that
    /// even against a second snapshot of the same issue running at the same moment (two nodes starting it).
    /// </summary>
    public async Task<int> SnapshotAsync(Issue issue, CancellationToken ct)
    {
        try
        {
            await SnapshotAsync(issue, "", ct);
        }
        catch (Exception e) when (db.IsUniqueViolation(e))
        {
            // Another snapshot of this issue committed rows this one had not seen when it began. Only now is
            // ON CONFLICT worth its price: on PostgreSQL it costs a speculative insertion per row, a fifth of
            // a million-reader snapshot, so the first attempt goes without it.
            await SnapshotAsync(issue, """ON CONFLICT ("IssueId", "SubscriberId") DO NOTHING""", ct);
        }

        return await db.Deliveries.CountAsync(d => d.IssueId == issue.Id, ct);
    }

    private Task<int> SnapshotAsync(Issue issue, string onConflict, CancellationToken ct)
    {
        List<object> values = [issue.Id, (int)DeliveryStatus.Pending];
        // Who gets it is the issue's segment, as WHERE conditions from the one place that says it (AudienceSql),
        // with the issue's topics read inside this statement. Only constant fragments are spliced in; every value,
        // the author's topics and dates included, is a parameter.
        var audience = Segments.AudienceSql.Where(issue.Segment, issue.Id, [], clock.GetUtcNow().UtcDateTime, site.Value.Zone, values);
        var statement = $$"""
            INSERT INTO "Deliveries" ("IssueId", "SubscriberId", "Status", "Attempts", "LeaseExpiresAtMs", "NextAttemptAtMs", "Uncertain")
            SELECT {0}, s."Id", {1}, 0, 0, 0, FALSE
            FROM "Subscribers" AS s
            WHERE {{audience}}
              AND NOT EXISTS (SELECT 1 FROM "Deliveries" d WHERE d."IssueId" = {0} AND d."SubscriberId" = s."Id")
            ORDER BY s."Id"
            {{onConflict}}
            """;
        return db.Database.ExecuteSqlRawAsync(statement, values, ct);
    }

    /// <summary>
    /// Claims up to <paramref name="max"/> due deliveries for <paramref name="owner"/> in one transaction,
    /// together with the tokens of the global rate limit. A row still Sending whose lease ran out belonged to a
    /// worker that died or lost its lease: if its message had started (in flight) it is taken again and marked
    /// Uncertain, unless it was Uncertain already, in which case it is Held for the author instead of risking a
    /// third copy; if its worker never reached it, it is taken as it was.
    /// </summary>
    public IReadOnlyList<ClaimedDelivery> Claim(int issueId, string owner, int max)
    {
        var o = options.Value;
        db.Database.OpenConnection();
        try
        {
            using var tx = db.Database.BeginTransaction(sql.ClaimIsolation);
            // Read inside the transaction: a claimer that waited for the lock must not work with a time older
            // than the last writer's, or the bucket would refill backwards.
            var now = NowMs;
            Hold(tx, issueId, now);
            var buckets = ReadBuckets(tx, now, o);
            var allowed = buckets.Allowed(max);
            var claimed = new List<ClaimedDelivery>(allowed);
            if (allowed > 0)
            {
                using var claim = db.Command(tx, "", ("@issue", issueId), ("@owner", owner), ("@now", now),
                    ("@until", now + (long)o.LeaseDuration.TotalMilliseconds), ("@max", allowed),
                    ("@pending", (int)DeliveryStatus.Pending), ("@sending", (int)DeliveryStatus.Sending), ("@deferred", (int)DeliveryStatus.Deferred));
                foreach (var statement in sql.Claim)
                {
                    claim.CommandText = statement;
                    claim.Parameters["@max"].Value = allowed - claimed.Count;
                    using (var reader = claim.ExecuteReader())
                    {
                        while (reader.Read())
                        {
                            claimed.Add(new ClaimedDelivery(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetBoolean(3)));
                        }
                    }

                    if (claimed.Count >= allowed)
                    {
                        break;
                    }
                }
            }

            // Tokens not used go back, so an idle worker doesn't starve a busy one.
            buckets.Write(this, tx, claimed.Count, now);
            tx.Commit();
            // RETURNING gives no order; sending in snapshot order keeps a send's progress easy to follow.
            claimed.Sort((a, b) => a.Id.CompareTo(b.Id));
            return claimed;
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>Expired leases on rows that were Uncertain already and in flight again: a second cut send. No third copy without the author.</summary>
    private void Hold(IDbContextTransaction tx, int issueId, long now)
    {
        using var hold = db.Command(tx, $"""
            UPDATE "Deliveries" SET "Status" = @held, "LeaseOwner" = NULL, "LeaseExpiresAtMs" = 0, "LastError" = @why
            WHERE "Id" IN ({sql.Rows("""
                "IssueId" = @issue AND "Status" = @sending AND "LeaseExpiresAtMs" < @now AND "Uncertain" AND "InFlight"
                """)})
            """, ("@held", (int)DeliveryStatus.Held), ("@why", HeldReason), ("@issue", issueId), ("@sending", (int)DeliveryStatus.Sending), ("@now", now));
        hold.ExecuteNonQuery();
    }

    /// <summary>
    /// Extends <paramref name="owner"/>'s lease to <paramref name="untilMs"/>. Only rows still theirs are
    /// touched: a row another worker has taken over stays taken, and its old owner finds out because its own
    /// lease stops growing.
    /// </summary>
    public int Renew(int issueId, string owner, long untilMs) => Maintain("""
        UPDATE "Deliveries" SET "LeaseExpiresAtMs" = @until WHERE "Id" IN ({0})
        """, """
        "IssueId" = @issue AND "Status" = @sending AND "LeaseOwner" = @owner
        """, ("@until", untilMs), ("@issue", issueId), ("@sending", (int)DeliveryStatus.Sending), ("@owner", owner));

    /// <summary>Ends at once every lease whose owner starts with one of <paramref name="ownerPrefixes"/> (dead nodes), so live workers take the rows now.</summary>
    public (int Released, int InFlight) Expire(IReadOnlyCollection<string> ownerPrefixes)
    {
        var expired = 0;
        var inFlight = 0;
        var issues = db.Issues.Where(i => i.Status == IssueStatus.Sending || i.Status == IssueStatus.Paused || i.Status == IssueStatus.Cancelled).Select(i => i.Id).ToList();
        foreach (var prefix in ownerPrefixes)
        {
            // Per sending issue, so the (IssueId, Status, ...) index finds the few Sending rows.
            foreach (var issue in issues)
            {
                // Only a row whose message was started comes back Uncertain (see Delivery.InFlight); counted
                // first, while the dead owner's name is still on it. A dead owner moves none of its rows.
                inFlight += db.Deliveries.Count(d => d.IssueId == issue && d.Status == DeliveryStatus.Sending && d.InFlight
                    && d.LeaseOwner != null && d.LeaseOwner.StartsWith(prefix));
                expired += Maintain("""
                    UPDATE "Deliveries" SET "LeaseExpiresAtMs" = 0 WHERE "Id" IN ({0})
                    """, """
                    "IssueId" = @issue AND "Status" = @sending AND substr("LeaseOwner", 1, @length) = @prefix
                    """, ("@issue", issue), ("@sending", (int)DeliveryStatus.Sending), ("@length", prefix.Length), ("@prefix", prefix));
            }
        }

        return (expired, inFlight);
    }

    /// <summary>One statement on the rows <see cref="LedgerSql.Rows"/> lets it change, in a transaction of its own.</summary>
    private int Maintain(string update, string where, params (string Name, object Value)[] parameters)
    {
        db.Database.OpenConnection();
        try
        {
            using var tx = db.Database.BeginTransaction();
            using var command = db.Command(tx, string.Format(System.Globalization.CultureInfo.InvariantCulture, update, sql.Rows(where)), parameters);
            var changed = command.ExecuteNonQuery();
            tx.Commit();
            return changed;
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>
    /// One group commit of <see cref="OutcomeWriter"/>: outcomes of finished messages, and the rows whose messages
    /// are about to start marked in flight, in one transaction. Each row changes only while its owner still
    /// holds it, so a worker whose lease was taken over can neither overwrite the new owner's result nor start
    /// a message the new owner may be sending too. Returns the rows marked.
    /// </summary>
    public HashSet<long> Write(IReadOnlyList<OwnedOutcome> outcomes, IReadOnlyList<(string Owner, long DeliveryId)> starting)
    {
        var connection = db.Database.GetDbConnection();
        var heldOpen = connection.State == System.Data.ConnectionState.Open;
        db.Database.OpenConnection();
        try
        {
            // A hard bounce writes its suppression in the same transaction, so only a group without one goes in
            // one trip, or through the kept statements.
            if (db.Database.CurrentTransaction is null && (outcomes.Count > 0 || starting.Count > 0) && !outcomes.Any(o => o.Outcome.HardBounce))
            {
                if (heldOpen && KeptOn(connection) is { } kept)
                {
                    return kept.Write(outcomes, starting, NowMs, (int)DeliveryStatus.Sent, (int)DeliveryStatus.Sending);
                }

                if (sql.WriteInOneTrip(connection, outcomes, starting, NowMs, (int)DeliveryStatus.Sent, (int)DeliveryStatus.Sending) is { } written)
                {
                    return written;
                }
            }

            using var tx = db.Database.BeginTransaction();
            var marked = new HashSet<long>();
            if (outcomes.Count > 0)
            {
                using var update = db.Command(tx, "", ("@sent", (int)DeliveryStatus.Sent), ("@now", NowMs), ("@sending", (int)DeliveryStatus.Sending));
                sql.Record(update, outcomes);
                var bounced = outcomes.Where(o => o.Outcome.HardBounce).Select(o => o.Outcome.SubscriberId).Distinct().ToList();
                if (bounced.Count > 0)
                {
                    // The reader's lifecycle writes the suppression, in this transaction: outcome and suppression commit together.
                    ReaderLifecycle.SuppressInLedger(db, tx, hashes, bounced, clock.GetUtcNow().UtcDateTime);
                }
            }

            if (starting.Count > 0)
            {
                using var mark = db.Command(tx, "", ("@sending", (int)DeliveryStatus.Sending));
                marked = sql.MarkInFlight(mark, starting);
            }

            tx.Commit();
            return marked;
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>
    /// Statements kept on the connection as it is open now; made again if it is another physical connection than
    /// last time (it was closed and opened in between), so a statement never runs on a connection it was not made on.
    /// </summary>
    private KeptLedgerWrites? KeptOn(System.Data.Common.DbConnection connection)
    {
        if (_kept is { } kept && !kept.IsFor(connection))
        {
            kept.Dispose();
            _kept = null;
        }

        return _kept ??= sql.Keep(connection);
    }

    /// <summary>The scope ends: its kept statements go before its context closes the connection they were made on.</summary>
    public void Dispose()
    {
        _kept?.Dispose();
        _kept = null;
    }

    /// <summary>
    /// Hands back claimed rows that were not attempted (pause, cancel, lost lease, lost connection): they are
    /// retried, not failed, and the attempt is not counted. <paramref name="mayHaveArrived"/> names the one row
    /// whose message may have reached the relay before its connection broke: it goes back Uncertain, or Held
    /// when it was Uncertain already.
    /// </summary>
    public void Release(string owner, IEnumerable<long> deliveryIds, long retryAtMs, long? mayHaveArrived = null)
    {
        var ids = deliveryIds.ToList();
        if (ids.Count == 0)
        {
            return;
        }

        var sending = DeliveryStatus.Sending;
        using var tx = db.Database.BeginTransaction();
        if (mayHaveArrived is { } maybe && ids.Remove(maybe))
        {
            db.Deliveries.Where(d => d.Id == maybe && d.LeaseOwner == owner && d.Status == sending)
                .ExecuteUpdate(u => u
                    .SetProperty(d => d.Status, d => d.Uncertain ? DeliveryStatus.Held : DeliveryStatus.Pending)
                    .SetProperty(d => d.LastError, d => d.Uncertain ? HeldReason : "connection lost before the server's reply: the reader may get two copies")
                    .SetProperty(d => d.Uncertain, true)
                    .SetProperty(d => d.InFlight, false)
                    .SetProperty(d => d.LeaseOwner, (string?)null)
                    .SetProperty(d => d.LeaseExpiresAtMs, 0L)
                    .SetProperty(d => d.NextAttemptAtMs, retryAtMs));
        }

        if (ids.Count > 0)
        {
            db.Deliveries.Where(d => ids.Contains(d.Id) && d.LeaseOwner == owner && d.Status == sending)
                .ExecuteUpdate(u => u
                    .SetProperty(d => d.Status, DeliveryStatus.Pending)
                    .SetProperty(d => d.InFlight, false)
                    .SetProperty(d => d.LeaseOwner, (string?)null)
                    .SetProperty(d => d.LeaseExpiresAtMs, 0L)
                    .SetProperty(d => d.NextAttemptAtMs, retryAtMs)
                    .SetProperty(d => d.Attempts, d => d.Attempts - 1));
        }

        tx.Commit();
    }

    /// <summary>Whether any row of the issue is still to be sent or retried: a probe of the (issue, status) index, not a count.</summary>
    public Task<bool> HasUnfinishedAsync(int issueId, CancellationToken ct) =>
        db.Deliveries.AnyAsync(d => d.IssueId == issueId && (d.Status == DeliveryStatus.Pending || d.Status == DeliveryStatus.Sending || d.Status == DeliveryStatus.Deferred), ct);

    /// <summary>
    /// Whether a row waits for a worker now: pending, or claimed under a lease that ran out. Two probes of the
    /// (issue, status) index: asked as one condition with an OR, SQLite read the table from its start instead
    /// (0.05 s on a million rows, where a probe takes microseconds).
    /// </summary>
    public async Task<bool> HasDueWorkAsync(int issueId, CancellationToken ct)
    {
        var now = NowMs;
        return await db.Deliveries.AnyAsync(d => d.IssueId == issueId && d.Status == DeliveryStatus.Pending, ct)
            || await db.Deliveries.AnyAsync(d => d.IssueId == issueId && d.Status == DeliveryStatus.Sending && d.LeaseExpiresAtMs < now, ct);
    }

    /// <summary>
    /// Whether the relay accepted a message of the issue at or after <paramref name="sinceMs"/>. Sent rows sit in the
    /// (issue, status, next attempt) index with a next attempt of 0, in the order they were written to the ledger,
    /// which is about the order workers claim them: read backwards, a recent accepted message is among the first rows
    /// read while a send moves, and only a stalled send (which is about to pause) reads them all. The order only
    /// makes it quick; the answer is the same in any order.
    /// </summary>
    public async Task<bool> AcceptedSinceAsync(int issueId, long sinceMs, CancellationToken ct) =>
        await db.Deliveries.Where(d => d.IssueId == issueId && d.Status == DeliveryStatus.Sent && d.SentAtMs >= sinceMs)
            .OrderByDescending(d => d.NextAttemptAtMs).Select(d => (long?)d.Id).FirstOrDefaultAsync(ct) is not null;

    /// <summary>
    /// The reason on a row a cancel left unsent. Such a row is Skipped, as no worker may take it, but it is not a
    /// reader the send skipped (unsubscribed, suppressed): the counts tell the two apart by this reason, so no new
    /// status (and no change to either provider's claim SQL) was needed.
    /// </summary>
    public const string CancelledError = "send cancelled";

    public async Task<DeliveryCounts> CountsAsync(int issueId, CancellationToken ct)
    {
        // One pass over the issue's rows: the progress page polls this while 100,000 rows change.
        var rows = await db.Deliveries.Where(d => d.IssueId == issueId).GroupBy(d => d.Status)
            .Select(g => new { g.Key, Count = g.Count(), Uncertain = g.Sum(d => d.Uncertain ? 1 : 0), Cancelled = g.Sum(d => d.LastError == CancelledError ? 1 : 0) })
            .ToListAsync(ct);
        // A held row is uncertain too, but "held" already says it may have two copies; counted in both, the
        // counters added up to more than the recipients, and "uncertain" said those readers were sent again.
        var uncertain = rows.Where(r => r.Key != DeliveryStatus.Held).Sum(r => r.Uncertain);
        var cancelled = rows.FirstOrDefault(r => r.Key == DeliveryStatus.Skipped)?.Cancelled ?? 0;
        int Of(DeliveryStatus s) => rows.FirstOrDefault(r => r.Key == s)?.Count ?? 0;
        return new DeliveryCounts(Of(DeliveryStatus.Pending), Of(DeliveryStatus.Sending), Of(DeliveryStatus.Sent), Of(DeliveryStatus.Deferred),
            Of(DeliveryStatus.Failed), Of(DeliveryStatus.Skipped) - cancelled, uncertain) { Held = Of(DeliveryStatus.Held), Cancelled = cancelled };
    }

    /// <summary>The earliest time a row becomes claimable (a retry, or a lease running out), or null when nothing waits.</summary>
    public long? NextDue(int issueId) =>
        db.Deliveries.Where(d => d.IssueId == issueId && (d.Status == DeliveryStatus.Pending || d.Status == DeliveryStatus.Deferred || d.Status == DeliveryStatus.Sending))
            .Min(d => (long?)(d.Status == DeliveryStatus.Sending ? d.LeaseExpiresAtMs : d.NextAttemptAtMs));

    private RateBuckets ReadBuckets(IDbContextTransaction tx, long now, SendingOptions o)
    {
        var buckets = new RateBuckets();
        if (o.MaxPerSecond > 0)
        {
            buckets.Add(ReadBucket(tx, "second", o.MaxPerSecond, 1000, now));
        }

        if (o.MaxPerHour > 0)
        {
            buckets.Add(ReadBucket(tx, "hour", o.MaxPerHour, 3_600_000, now));
        }

        return buckets;
    }

    /// <summary>
    /// A token bucket in a row: capacity tokens, refilled at capacity per period, read and written inside the
    /// claim's transaction, so every worker on every node draws from the same bucket.
    /// </summary>
    private Bucket ReadBucket(IDbContextTransaction tx, string key, int capacity, long periodMs, long now)
    {
        using var read = db.Command(tx, sql.ReadBucket, ("@key", key));
        double tokens = capacity;
        long updated = now;
        using (var r = read.ExecuteReader())
        {
            if (r.Read())
            {
                tokens = r.GetDouble(0);
                updated = r.GetInt64(1);
            }
        }

        // Never refill backwards (another node's clock a little ahead) and never hold less than nothing: a
        // negative count once became a negative claim size.
        var elapsed = Math.Max(0, now - updated);
        tokens = Math.Clamp(tokens + (elapsed * (double)capacity / periodMs), 0, capacity);
        return new Bucket(key, capacity, tokens, Math.Max(now, updated));
    }

    private void WriteBucket(IDbContextTransaction tx, Bucket bucket)
    {
        using var write = db.Command(tx, """
            INSERT INTO "SendRateBuckets" ("Key", "Tokens", "UpdatedAtMs") VALUES (@key, @tokens, @now)
            ON CONFLICT ("Key") DO UPDATE SET "Tokens" = excluded."Tokens", "UpdatedAtMs" = excluded."UpdatedAtMs"
            """, ("@key", bucket.Key), ("@tokens", bucket.Tokens), ("@now", bucket.UpdatedAtMs));
        write.ExecuteNonQuery();
    }

    private sealed record Bucket(string Key, int Capacity, double Tokens, long UpdatedAtMs);

    /// <summary>The per-second and per-hour buckets of one claim: what they allow, and what is left after it.</summary>
    private sealed class RateBuckets
    {
        private readonly List<Bucket> _buckets = [];

        public void Add(Bucket bucket) => _buckets.Add(bucket);

        public int Allowed(int wanted) => _buckets.Aggregate(Math.Max(0, wanted), (n, b) => (int)Math.Min(n, Math.Floor(b.Tokens)));

        public void Write(Ledger ledger, IDbContextTransaction tx, int used, long now)
        {
            foreach (var b in _buckets)
            {
                ledger.WriteBucket(tx, b with { Tokens = Math.Max(0, b.Tokens - used), UpdatedAtMs = Math.Max(now, b.UpdatedAtMs) });
            }
        }
    }
}

public sealed record DeliveryCounts(int Pending, int Sending, int Sent, int Deferred, int Failed, int Skipped, int Uncertain)
{
    /// <summary>Deliveries cut short twice: kept back until the author decides (see <see cref="DeliveryStatus.Held"/>).</summary>
    public int Held { get; init; }

    /// <summary>Readers not sent to because the author cancelled the send (see <see cref="Ledger.CancelledError"/>); not among <see cref="Skipped"/>.</summary>
    public int Cancelled { get; init; }

    public int Total => Pending + Sending + Sent + Deferred + Failed + Skipped + Held + Cancelled;

    /// <summary>Readers the send is through with; not the cancelled ones, so a cancelled send does not read as complete.</summary>
    public int Done => Sent + Failed + Skipped + Held;

    public bool Finished => Pending + Sending + Deferred == 0;
}
