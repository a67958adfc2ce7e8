using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Welcome;

/// <summary>
/// Who is due which step of the welcome series, and the series' switches. The rule, in one place:
/// a reader moves forward from the furthest step they have a ledger row for, in the series' current order.
/// Step k is due for a reader when they have no row for k and none for any step after k, and either k is the
/// first step and they confirmed at least k's delay ago, or they finished the step just before k (sent,
/// failed or skipped) at least k's delay ago. So a step inserted before a reader's position is never sent
/// to them, a step inserted after it is, and the unique (step, reader) row means no step is sent twice.
/// </summary>
public sealed class WelcomeSeries(AppDbContext db, TimeProvider clock, ILogger<WelcomeSeries> logger)
{
    public long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Adds a reader who just confirmed, in the caller's transaction. Only while the series has a step, so the
    /// readers of a site with no series don't all get step 1 the day the author writes one. Confirming again
    /// after leaving the list does not start the series over: the row is kept.
    /// </summary>
    public static Task<int> JoinAsync(AppDbContext db, long subscriberId, DateTime at, CancellationToken ct) =>
        db.Database.ExecuteSqlRawAsync("""
            INSERT INTO "WelcomeReaders" ("SubscriberId", "JoinedAtMs")
            SELECT {0}, {1} WHERE EXISTS (SELECT 1 FROM "WelcomeSteps" WHERE "RemovedAt" IS NULL)
            ON CONFLICT ("SubscriberId") DO NOTHING
            """, [subscriberId, new DateTimeOffset(at).ToUnixTimeMilliseconds()], ct);

    /// <summary>
    /// Whether the series' first step goes out as a reader confirms (no delay, series not paused): then it is the
    /// reader's welcome, and the built-in welcome email is not sent as well.
    /// </summary>
    public static async Task<bool> GreetsAtOnceAsync(AppDbContext db, CancellationToken ct) =>
        !await db.Set<WelcomeSettings>().AnyAsync(s => s.Id == 1 && s.Paused, ct)
        && await db.Set<WelcomeStep>().Where(s => s.RemovedAt == null).OrderBy(s => s.Position).Select(s => (int?)s.DelayDays).FirstOrDefaultAsync(ct) == 0;

    public async Task<bool> IsPausedAsync(CancellationToken ct) =>
        await db.Set<WelcomeSettings>().AsNoTracking().AnyAsync(s => s.Id == 1 && s.Paused, ct);

    public async Task SetPausedAsync(bool paused, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (await db.Set<WelcomeSettings>().Where(s => s.Id == 1).ExecuteUpdateAsync(u => u.SetProperty(s => s.Paused, paused).SetProperty(s => s.ChangedAt, now), ct) == 0)
        {
            db.Set<WelcomeSettings>().Add(new WelcomeSettings { Id = 1, Paused = paused, ChangedAt = now });
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (db.IsUniqueViolation(e))
            {
                // Two clicks at once: the other wrote the row; write our choice over it.
                db.ChangeTracker.Clear();
                await db.Set<WelcomeSettings>().Where(s => s.Id == 1).ExecuteUpdateAsync(u => u.SetProperty(s => s.Paused, paused).SetProperty(s => s.ChangedAt, now), ct);
            }
        }
    }

    /// <summary>
    /// The due check: one INSERT ... SELECT per step (a series has a handful) writes a Pending row for every
    /// reader whose step <paramref name="now"/> has come. Running it twice, or on two nodes at once, adds
    /// nothing twice: the NOT EXISTS skips rows already there and the unique (step, reader) index with
    /// ON CONFLICT DO NOTHING settles a race between two runs.
    /// </summary>
    public async Task<int> ScheduleDueAsync(DateTimeOffset now, CancellationToken ct)
    {
        if (await IsPausedAsync(ct))
        {
            return 0;
        }

        var steps = await db.Set<WelcomeStep>().AsNoTracking().Where(s => s.RemovedAt == null)
            .OrderBy(s => s.Position).ThenBy(s => s.Id).Select(s => new { s.Id, s.Position, s.DelayDays }).ToListAsync(ct);
        var nowMs = now.ToUnixTimeMilliseconds();
        var added = 0;
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            var readyBefore = nowMs - (long)TimeSpan.FromDays(step.DelayDays).TotalMilliseconds;
            // The two forms differ only in what the delay counts from; both are constants, every value a parameter.
            var anchor = i == 0
                ? """w."JoinedAtMs" <= {5}"""
                : """
                  EXISTS (SELECT 1 FROM "WelcomeDeliveries" p WHERE p."StepId" = {6} AND p."SubscriberId" = w."SubscriberId"
                          AND p."Status" IN ({7}, {8}, {9}) AND p."FinishedAtMs" <= {5})
                  """;
            object[] values =
            [
                step.Id, (int)DeliveryStatus.Pending, nowMs, (int)SubscriberStatus.Active, now.UtcDateTime, readyBefore,
                i == 0 ? 0 : steps[i - 1].Id, (int)DeliveryStatus.Sent, (int)DeliveryStatus.Failed, (int)DeliveryStatus.Skipped, step.Position,
            ];
            // Rows at a step after this one (in today's order) mean the reader is past it: an inserted step is not sent backwards.
            var statement = $$"""
                INSERT INTO "WelcomeDeliveries" ("StepId", "SubscriberId", "Status", "Attempts", "LeaseExpiresAtMs", "NextAttemptAtMs", "InFlight", "Uncertain", "CreatedAtMs")
                SELECT {0}, w."SubscriberId", {1}, 0, 0, 0, FALSE, FALSE, {2}
                FROM "WelcomeReaders" AS w
                JOIN "Subscribers" AS s ON s."Id" = w."SubscriberId"
                WHERE w."LeftAtMs" IS NULL AND s."Status" = {3} AND (s."PausedUntil" IS NULL OR s."PausedUntil" <= {4})
                  AND {{anchor}}
                  AND NOT EXISTS (SELECT 1 FROM "WelcomeDeliveries" d WHERE d."StepId" = {0} AND d."SubscriberId" = w."SubscriberId")
                  AND NOT EXISTS (SELECT 1 FROM "WelcomeDeliveries" d JOIN "WelcomeSteps" t ON t."Id" = d."StepId"
                                  WHERE d."SubscriberId" = w."SubscriberId" AND t."RemovedAt" IS NULL AND t."Position" > {10})
                ON CONFLICT ("StepId", "SubscriberId") DO NOTHING
                """;
            added += await db.Database.ExecuteSqlRawAsync(statement, values, ct);
        }

        if (added > 0)
        {
            logger.LogInformation("Welcome series: {Count} deliveries are due", added);
        }

        return added;
    }

    /// <summary>The reader leaves the series and stays on the list; what was waiting for them is skipped.</summary>
    public async Task<bool> LeaveAsync(long subscriberId, CancellationToken ct)
    {
        var now = NowMs;
        var left = await db.Set<WelcomeReader>().Where(r => r.SubscriberId == subscriberId && r.LeftAtMs == null)
            .ExecuteUpdateAsync(u => u.SetProperty(r => r.LeftAtMs, now), ct) == 1;
        await db.Set<WelcomeDelivery>().Where(d => d.SubscriberId == subscriberId && (d.Status == DeliveryStatus.Pending || d.Status == DeliveryStatus.Deferred))
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Skipped).SetProperty(d => d.FinishedAtMs, now)
                .SetProperty(d => d.LastError, "left the welcome series"), ct);
        if (left)
        {
            logger.LogInformation("Subscriber {Id} left the welcome series", subscriberId);
        }

        return left;
    }

    /// <summary>Whether the reader is in the series now (joined, not left).</summary>
    public Task<bool> IsInAsync(long subscriberId, CancellationToken ct) =>
        db.Set<WelcomeReader>().AnyAsync(r => r.SubscriberId == subscriberId && r.LeftAtMs == null, ct);

    /// <summary>Per step: readers who got it, whose copy is due or in the air, held, failed or skipped, and who left the series there.</summary>
    public async Task<IReadOnlyDictionary<int, StepCounts>> CountsAsync(CancellationToken ct)
    {
        var rows = await db.Set<WelcomeDelivery>().GroupBy(d => new { d.StepId, d.Status })
            .Select(g => new { g.Key.StepId, g.Key.Status, Count = g.Count() }).ToListAsync(ct);
        var positions = await db.Set<WelcomeStep>().AsNoTracking().ToDictionaryAsync(s => s.Id, s => s.Position, ct);
        // Readers who left, at the furthest step they reached (0 = before the first step); few, so read in memory.
        var leftReaders = await db.Set<WelcomeReader>().Where(r => r.LeftAtMs != null).Select(r => r.SubscriberId).ToListAsync(ct);
        var reached = await db.Set<WelcomeDelivery>().Where(d => leftReaders.Contains(d.SubscriberId)).Select(d => new { d.SubscriberId, d.StepId }).ToListAsync(ct);
        var leftAt = leftReaders.Select(id => reached.Where(r => r.SubscriberId == id && positions.ContainsKey(r.StepId))
            .OrderByDescending(r => positions[r.StepId]).Select(r => (int?)r.StepId).FirstOrDefault() ?? 0).GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
        int Of(int step, params DeliveryStatus[] statuses) => rows.Where(r => r.StepId == step && statuses.Contains(r.Status)).Sum(r => r.Count);
        return positions.Keys.Append(0).ToDictionary(id => id, id => new StepCounts(
            Of(id, DeliveryStatus.Sent),
            Of(id, DeliveryStatus.Pending, DeliveryStatus.Deferred, DeliveryStatus.Sending),
            Of(id, DeliveryStatus.Held),
            Of(id, DeliveryStatus.Failed),
            Of(id, DeliveryStatus.Skipped),
            leftAt.GetValueOrDefault(id)));
    }
}

public sealed record StepCounts(int Sent, int Due, int Held, int Failed, int Skipped, int Left);
