using System.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Sending;

/// <summary>A claimed delivery: the lease is ours until LeaseExpiresAtMs.</summary>
public sealed record ClaimedDelivery(long Id, long SubscriberId, int Attempts, bool Uncertain);

/// <summary>What happened to one claimed delivery.</summary>
public sealed record DeliveryOutcome(long DeliveryId, long SubscriberId, DeliveryStatus Status, int? SmtpCode, string? Error, long NextAttemptAtMs, bool HardBounce);

/// <summary>
/// The delivery ledger's set-based operations, in SQL, on SQLite. Everything that decides who gets what
/// happens in one statement or one IMMEDIATE transaction, so two workers (threads or processes) can never
/// claim the same row and a crash can never half-apply a batch.
/// </summary>
public sealed class Ledger(AppDbContext db, IOptions<SendingOptions> options, TimeProvider clock)
{
    public long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Who the snapshot would take now: the same conditions as its INSERT ... SELECT, for the pages that count them.</summary>
    public static IQueryable<Subscriber> Audience(AppDbContext db, string? tag, DateTime now) =>
        db.Subscribers.Where(s => s.Status == SubscriberStatus.Active && (s.PausedUntil == null || s.PausedUntil <= now)
            && (tag == null || db.SubscriberTags.Any(t => t.SubscriberId == s.Id && t.Tag == tag)));

    /// <summary>
    /// Copies the eligible subscribers into the ledger in one statement. The unique (issue, subscriber)
    /// index makes it idempotent: a re-run after a crash adds nobody twice.
    /// </summary>
    public async Task<int> SnapshotAsync(Issue issue, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var tag = issue.AudienceTag;
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO "Deliveries" ("IssueId", "SubscriberId", "Status", "Attempts", "LeaseExpiresAtMs", "NextAttemptAtMs", "Uncertain")
            SELECT {issue.Id}, s."Id", 0, 0, 0, 0, 0
            FROM "Subscribers" AS s
            WHERE s."Status" = {(int)SubscriberStatus.Active}
              AND (s."PausedUntil" IS NULL OR s."PausedUntil" <= {now})
              AND ({tag} IS NULL OR EXISTS (SELECT 1 FROM "SubscriberTags" t WHERE t."SubscriberId" = s."Id" AND t."Tag" = {tag}))
            ORDER BY s."Id"
            ON CONFLICT ("IssueId", "SubscriberId") DO NOTHING
            """, ct);
        return await db.Deliveries.CountAsync(d => d.IssueId == issue.Id, ct);
    }

    /// <summary>
    /// Claims up to <paramref name="max"/> due deliveries for <paramref name="owner"/> in one IMMEDIATE
    /// transaction, together with the tokens of the global rate limit. A row whose lease expired while
    /// Sending was in flight at a crash: it is reclaimed and marked Uncertain.
    /// </summary>
    public IReadOnlyList<ClaimedDelivery> Claim(int issueId, string owner, int max)
    {
        var o = options.Value;
        var now = NowMs;
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        db.Database.OpenConnection();
        try
        {
            using var tx = connection.BeginTransaction(IsolationLevel.Serializable);
            var allowed = TakeTokens(connection, tx, max, now, o);
            if (allowed == 0)
            {
                tx.Commit();
                return [];
            }

            using var claim = connection.CreateCommand();
            claim.Transaction = tx;
            // One index seek per state, each stopping at $max rows: expired leases first (a crashed worker's
            // batch), then deferred rows that are due, then pending ones, which the (IssueId, Status,
            // NextAttemptAtMs) index hands over in snapshot order. A single OR'ed filter sorted by Id instead
            // read every row of the issue on every claim: a million-reader send then slows to a crawl.
            claim.CommandText = """
                UPDATE "Deliveries"
                SET "Uncertain" = CASE WHEN "Status" = 1 THEN 1 ELSE "Uncertain" END,
                    "Status" = 1, "LeaseOwner" = $owner, "LeaseExpiresAtMs" = $until, "Attempts" = "Attempts" + 1
                WHERE "Id" IN (
                    SELECT "Id" FROM (SELECT "Id" FROM "Deliveries" WHERE "IssueId" = $issue AND "Status" = 1 AND "LeaseExpiresAtMs" < $now LIMIT $max)
                    UNION ALL
                    SELECT "Id" FROM (SELECT "Id" FROM "Deliveries" WHERE "IssueId" = $issue AND "Status" = 3 AND "NextAttemptAtMs" <= $now LIMIT $max)
                    UNION ALL
                    SELECT "Id" FROM (SELECT "Id" FROM "Deliveries" WHERE "IssueId" = $issue AND "Status" = 0 AND "NextAttemptAtMs" <= $now LIMIT $max)
                    LIMIT $max)
                RETURNING "Id", "SubscriberId", "Attempts", "Uncertain"
                """;
            claim.Parameters.AddWithValue("$owner", owner);
            claim.Parameters.AddWithValue("$until", now + (long)o.LeaseDuration.TotalMilliseconds);
            claim.Parameters.AddWithValue("$issue", issueId);
            claim.Parameters.AddWithValue("$now", now);
            claim.Parameters.AddWithValue("$max", allowed);
            var claimed = new List<ClaimedDelivery>(allowed);
            using (var reader = claim.ExecuteReader())
            {
                while (reader.Read())
                {
                    claimed.Add(new ClaimedDelivery(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetBoolean(3)));
                }
            }

            // RETURNING gives no order; sending in snapshot order keeps a send's progress easy to follow.
            claimed.Sort((a, b) => a.Id.CompareTo(b.Id));
            if (claimed.Count < allowed)
            {
                // Give back the tokens we did not use, so an idle worker doesn't starve a busy one.
                ReturnTokens(connection, tx, allowed - claimed.Count, o);
            }

            tx.Commit();
            return claimed;
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>
    /// Writes a batch's outcomes in one transaction. Each update names the lease owner, so a worker whose
    /// lease was taken over (it stalled past LeaseDuration) cannot overwrite the new owner's result.
    /// </summary>
    public int Record(string owner, IReadOnlyList<DeliveryOutcome> outcomes)
    {
        if (outcomes.Count == 0)
        {
            return 0;
        }

        var connection = (SqliteConnection)db.Database.GetDbConnection();
        db.Database.OpenConnection();
        try
        {
            using var tx = connection.BeginTransaction(IsolationLevel.Serializable);
            using var update = connection.CreateCommand();
            update.Transaction = tx;
            update.CommandText = """
                UPDATE "Deliveries" SET "Status" = $status, "SmtpCode" = $code, "LastError" = $error, "NextAttemptAtMs" = $next,
                    "SentAtMs" = CASE WHEN $status = 2 THEN $now ELSE "SentAtMs" END, "LeaseOwner" = NULL, "LeaseExpiresAtMs" = 0
                WHERE "Id" = $id AND "LeaseOwner" = $owner AND "Status" = 1
                """;
            var pStatus = update.Parameters.Add("$status", SqliteType.Integer);
            var pCode = update.Parameters.Add("$code", SqliteType.Integer);
            var pError = update.Parameters.Add("$error", SqliteType.Text);
            var pNext = update.Parameters.Add("$next", SqliteType.Integer);
            var pNow = update.Parameters.Add("$now", SqliteType.Integer);
            var pId = update.Parameters.Add("$id", SqliteType.Integer);
            update.Parameters.AddWithValue("$owner", owner);
            var now = NowMs;
            var written = 0;
            foreach (var o in outcomes)
            {
                pStatus.Value = (int)o.Status;
                pCode.Value = (object?)o.SmtpCode ?? DBNull.Value;
                pError.Value = o.Error is null ? DBNull.Value : o.Error.Length > 1000 ? o.Error[..1000] : o.Error;
                pNext.Value = o.NextAttemptAtMs;
                pNow.Value = now;
                pId.Value = o.DeliveryId;
                written += update.ExecuteNonQuery();
            }

            var bounced = outcomes.Where(o => o.HardBounce).Select(o => o.SubscriberId).Distinct().ToList();
            if (bounced.Count > 0)
            {
                Suppress(connection, tx, bounced);
            }

            tx.Commit();
            return written;
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>A hard bounce marks the subscriber Bounced and suppresses the address for good.</summary>
    private static void Suppress(SqliteConnection connection, SqliteTransaction tx, List<long> subscriberIds)
    {
        foreach (var id in subscriberIds)
        {
            using var find = connection.CreateCommand();
            find.Transaction = tx;
            find.CommandText = "SELECT \"EmailKey\" FROM \"Subscribers\" WHERE \"Id\" = $id";
            find.Parameters.AddWithValue("$id", id);
            if (find.ExecuteScalar() is not string key)
            {
                continue;
            }

            using var write = connection.CreateCommand();
            write.Transaction = tx;
            write.CommandText = """
                UPDATE "Subscribers" SET "Status" = 3 WHERE "Id" = $id;
                INSERT INTO "Suppressions" ("EmailHash", "Reason", "CreatedAt") VALUES ($hash, 1, $at) ON CONFLICT ("EmailHash") DO NOTHING;
                INSERT INTO "SubscriberEvents" ("SubscriberId", "At", "Kind", "Source", "Detail") VALUES ($id, $at, 8, 'smtp', 'hard bounce: address suppressed');
                """;
            write.Parameters.AddWithValue("$id", id);
            write.Parameters.AddWithValue("$hash", Subscriber.HashOf(key));
            write.Parameters.AddWithValue("$at", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", System.Globalization.CultureInfo.InvariantCulture));
            write.ExecuteNonQuery();
        }
    }

    /// <summary>Hands back claimed rows that were not attempted (pause, cancel, lost connection): they are retried, not failed.</summary>
    public void Release(string owner, IEnumerable<long> deliveryIds, long retryAtMs)
    {
        var ids = deliveryIds.ToList();
        if (ids.Count == 0)
        {
            return;
        }

        db.Deliveries.Where(d => ids.Contains(d.Id) && d.LeaseOwner == owner && d.Status == DeliveryStatus.Sending)
            .ExecuteUpdate(u => u
                .SetProperty(d => d.Status, DeliveryStatus.Pending)
                .SetProperty(d => d.LeaseOwner, (string?)null)
                .SetProperty(d => d.LeaseExpiresAtMs, 0L)
                .SetProperty(d => d.NextAttemptAtMs, retryAtMs)
                .SetProperty(d => d.Attempts, d => d.Attempts - 1));
    }

    public async Task<DeliveryCounts> CountsAsync(int issueId, CancellationToken ct)
    {
        // One pass over the issue's rows: the progress page polls this while 100,000 rows change.
        var rows = await db.Deliveries.Where(d => d.IssueId == issueId).GroupBy(d => d.Status)
            .Select(g => new { g.Key, Count = g.Count(), Uncertain = g.Sum(d => d.Uncertain ? 1 : 0) }).ToListAsync(ct);
        var uncertain = rows.Sum(r => r.Uncertain);
        int Of(DeliveryStatus s) => rows.FirstOrDefault(r => r.Key == s)?.Count ?? 0;
        return new DeliveryCounts(Of(DeliveryStatus.Pending), Of(DeliveryStatus.Sending), Of(DeliveryStatus.Sent), Of(DeliveryStatus.Deferred),
            Of(DeliveryStatus.Failed), Of(DeliveryStatus.Skipped), uncertain);
    }

    /// <summary>The earliest time a Deferred row becomes due, or null when nothing waits.</summary>
    public long? NextDue(int issueId) =>
        db.Deliveries.Where(d => d.IssueId == issueId && (d.Status == DeliveryStatus.Pending || d.Status == DeliveryStatus.Deferred || d.Status == DeliveryStatus.Sending))
            .Min(d => (long?)(d.Status == DeliveryStatus.Sending ? d.LeaseExpiresAtMs : d.NextAttemptAtMs));

    private static int TakeTokens(SqliteConnection c, SqliteTransaction tx, int wanted, long nowMs, SendingOptions o)
    {
        var allowed = wanted;
        if (o.MaxPerSecond > 0)
        {
            allowed = Math.Min(allowed, Take(c, tx, "second", o.MaxPerSecond, 1000, allowed, nowMs));
        }

        if (o.MaxPerHour > 0 && allowed > 0)
        {
            var hour = Take(c, tx, "hour", o.MaxPerHour, 3_600_000, allowed, nowMs);
            if (hour < allowed && o.MaxPerSecond > 0)
            {
                Give(c, tx, "second", allowed - hour, o.MaxPerSecond);
            }

            allowed = hour;
        }

        return allowed;
    }

    private static void ReturnTokens(SqliteConnection c, SqliteTransaction tx, int unused, SendingOptions o)
    {
        if (o.MaxPerSecond > 0)
        {
            Give(c, tx, "second", unused, o.MaxPerSecond);
        }

        if (o.MaxPerHour > 0)
        {
            Give(c, tx, "hour", unused, o.MaxPerHour);
        }
    }

    /// <summary>
    /// A token bucket in a row: capacity tokens, refilled at capacity per period, read and written inside
    /// the claim's IMMEDIATE transaction, so every worker on every node draws from the same bucket.
    /// </summary>
    private static int Take(SqliteConnection c, SqliteTransaction tx, string key, int capacity, long periodMs, int wanted, long nowMs)
    {
        using var read = c.CreateCommand();
        read.Transaction = tx;
        read.CommandText = "SELECT \"Tokens\", \"UpdatedAtMs\" FROM \"SendRateBuckets\" WHERE \"Key\" = $key";
        read.Parameters.AddWithValue("$key", key);
        double tokens = capacity;
        long updated = nowMs;
        using (var r = read.ExecuteReader())
        {
            if (r.Read())
            {
                tokens = r.GetDouble(0);
                updated = r.GetInt64(1);
            }
        }

        tokens = Math.Min(capacity, tokens + ((nowMs - updated) * (double)capacity / periodMs));
        var take = (int)Math.Min(wanted, Math.Floor(tokens));
        using var write = c.CreateCommand();
        write.Transaction = tx;
        write.CommandText = """
            INSERT INTO "SendRateBuckets" ("Key", "Tokens", "UpdatedAtMs") VALUES ($key, $tokens, $now)
            ON CONFLICT ("Key") DO UPDATE SET "Tokens" = excluded."Tokens", "UpdatedAtMs" = excluded."UpdatedAtMs"
            """;
        write.Parameters.AddWithValue("$key", key);
        write.Parameters.AddWithValue("$tokens", tokens - take);
        write.Parameters.AddWithValue("$now", nowMs);
        write.ExecuteNonQuery();
        return take;
    }

    private static void Give(SqliteConnection c, SqliteTransaction tx, string key, int count, int capacity)
    {
        using var give = c.CreateCommand();
        give.Transaction = tx;
        give.CommandText = "UPDATE \"SendRateBuckets\" SET \"Tokens\" = MIN($cap, \"Tokens\" + $n) WHERE \"Key\" = $key";
        give.Parameters.AddWithValue("$cap", capacity);
        give.Parameters.AddWithValue("$n", count);
        give.Parameters.AddWithValue("$key", key);
        give.ExecuteNonQuery();
    }
}

public sealed record DeliveryCounts(int Pending, int Sending, int Sent, int Deferred, int Failed, int Skipped, int Uncertain)
{
    public int Total => Pending + Sending + Sent + Deferred + Failed + Skipped;

    public int Done => Sent + Failed + Skipped;

    public bool Finished => Pending + Sending + Deferred == 0;
}
