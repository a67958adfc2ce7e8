using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Newsletter.Web.Data;

namespace Newsletter.Web.Infrastructure;

/// <summary>A limit: at most <paramref name="Permits"/> per <paramref name="Window"/> for each partition (a client, an address).</summary>
public readonly record struct RateLimit(string Name, int Permits, TimeSpan Window);

/// <summary>
/// A fixed-window rate limiter whose counts live in the database, so a limit holds for the sum of every node
/// and process, not for each. One row per (limit, partition, window); a request takes a permit with one
/// atomic statement that inserts the row or counts one more while the window has room. Partitions are
/// stored hashed: the table never holds an email or IP address. Any endpoint that sends mail on an
/// anonymous request should take its permits here.
/// </summary>
public sealed class SharedRateLimiter(AppDbContext db, TimeProvider clock)
{
    /// <summary>Expired windows are deleted at most this often per process, by whoever opens a new window.</summary>
    private static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(1);

    private static long _nextPruneMs;

    // The statement depends only on the model (one per provider), so it is written once per model.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Microsoft.EntityFrameworkCore.Metadata.IModel, string> Statements = new();

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Microsoft.EntityFrameworkCore.Metadata.IModel, string> CountOnlyStatements = new();

    /// <summary>Takes a permit; false when the partition used up this window's.</summary>
    public Task<bool> TryAcquireAsync(RateLimit limit, string partition, CancellationToken ct) => TryAcquireAsync(limit, partition, 1, ct);

    /// <summary>
    /// Takes <paramref name="permits"/> permits at once, or none: for a node that hands them out itself and comes
    /// back for more (<see cref="Api.ApiRateGate"/>), so a busy partition costs one write per batch, not per request.
    /// </summary>
    public async Task<bool> TryAcquireAsync(RateLimit limit, string partition, int permits, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit.Permits, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(permits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permits, limit.Permits);
        var (nowMs, startMs, endMs) = CurrentWindow(limit);
        var counted = await db.Database.SqlQueryRaw<int>(Statements.GetValue(db.Model, UpsertSql), KeyOf(limit.Name, partition), startMs, endMs, limit.Permits, permits)
            .ToListAsync(ct);
        if (counted is [var first] && first == permits)
        {
            await PruneAsync(nowMs, ct);
        }

        return counted.Count == 1;
    }

    /// <summary>
    /// One permit each for many requests, in the caller's transaction (the <see cref="Subscribers.SignUpWriter"/>'s
    /// batch for its clients, the <see cref="Subscribers.ReaderLifecycle"/>'s batch of sign-ups for their addresses):
    /// <c>result[i]</c> says whether <c>partitions[i]</c> got one; a null partition asks for nothing and gets
    /// false. Requests for one partition are granted in list order while the window has room, exactly as one
    /// statement per request would, but a batch costs one statement for all its partitions, each counted by the
    /// number of its requests at once; only a partition whose window cannot take all of them at once is asked
    /// again, one request at a time, until it refuses. Partitions go into the statement in key order, so two
    /// nodes' batches lock shared windows in the same order and never deadlock each other on PostgreSQL.
    /// </summary>
    public async Task<bool[]> TryAcquireEachAsync(RateLimit limit, IReadOnlyList<string?> partitions, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit.Permits, 1);
        var granted = new bool[partitions.Count];
        var asking = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < partitions.Count; i++)
        {
            if (partitions[i] is { } partition)
            {
                var key = KeyOf(limit.Name, partition);
                if (!asking.TryGetValue(key, out var requests))
                {
                    asking[key] = requests = [];
                }

                requests.Add(i);
            }
        }

        if (asking.Count == 0)
        {
            return granted;
        }

        var (_, startMs, endMs) = CurrentWindow(limit);
        // A partition asking more than the limit could ever hold can't be counted at once: it is asked per request below.
        var together = asking.Where(a => a.Value.Count <= limit.Permits).ToList();
        var counted = new HashSet<string>(StringComparer.Ordinal);
        if (together.Count > 0)
        {
            // Through EF's raw SQL, not a bare command: the statements then show in its diagnostics and logs like
            // every other (EqualWorkTests reads them there), with values typed by its mappings.
            var values = new object[3 + (2 * together.Count)];
            (values[0], values[1], values[2]) = (startMs, endMs, limit.Permits);
            for (var g = 0; g < together.Count; g++)
            {
                (values[3 + (2 * g)], values[4 + (2 * g)]) = (together[g].Key, together[g].Value.Count);
            }

            counted.UnionWith(await db.Database.SqlQueryRaw<string>(ManyUpsertSql(db.Model, together.Count), values).ToListAsync(ct));
        }

        foreach (var (key, requests) in asking)
        {
            if (counted.Contains(key))
            {
                requests.ForEach(i => granted[i] = true);
                continue;
            }

            // The window could not take them all: what room it has goes to the first ones, in order. Counts only
            // grow within a window, so once one is refused every later one would be too.
            foreach (var i in requests)
            {
                if (await db.Database.ExecuteSqlRawAsync(CountOnlyStatements.GetValue(db.Model, CountOnlySql), [key, startMs, endMs, limit.Permits, 1], ct) != 1)
                {
                    break;
                }

                granted[i] = true;
            }
        }

        return granted;
    }

    /// <summary>Windows are fixed slices of Unix time, so every node computes the same one without talking to the others.</summary>
    private (long NowMs, long StartMs, long EndMs) CurrentWindow(RateLimit limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit.Window, TimeSpan.FromSeconds(1));
        var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var windowMs = (long)limit.Window.TotalMilliseconds;
        var startMs = nowMs - (nowMs % windowMs);
        return (nowMs, startMs, startMs + windowMs);
    }

    /// <summary>Drops ended windows when it is time (at most once a minute per process).</summary>
    public Task PruneDueAsync(CancellationToken ct) => PruneAsync(clock.GetUtcNow().ToUnixTimeMilliseconds(), ct);

    /// <summary>How long until the current window of <paramref name="limit"/> ends and a used-up partition may ask again.</summary>
    public TimeSpan UntilNextWindow(RateLimit limit)
    {
        var (nowMs, _, endMs) = CurrentWindow(limit);
        return TimeSpan.FromMilliseconds(endMs - nowMs);
    }

    /// <summary>A 429's Retry-After for <paramref name="limit"/>: the whole seconds until its window ends, at least one.</summary>
    public string RetryAfter(RateLimit limit) =>
        Math.Max(1, (int)Math.Ceiling(UntilNextWindow(limit).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Whether the partition has used up this window's permits, without taking one: for limits that count
    /// only failures (a wrong password), checked before the attempt and taken after it fails.
    /// </summary>
    public async Task<bool> IsUsedUpAsync(RateLimit limit, string partition, CancellationToken ct)
    {
        var (_, startMs, _) = CurrentWindow(limit);
        var key = KeyOf(limit.Name, partition);
        return await db.RateLimitWindows.AnyAsync(w => w.Key == key && w.WindowStartMs == startMs && w.Count >= limit.Permits, ct);
    }

    public static string KeyOf(string name, string partition) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name + "\n" + partition)));

    /// <summary>
    /// Insert the window's first count, or add the permits while they fit; RETURNING gives a row only when this
    /// request counted. The same statement runs on SQLite (3.35 or later) and PostgreSQL; names come from
    /// the EF model, so a naming convention on either provider cannot break it.
    /// </summary>
    private static string UpsertSql(Microsoft.EntityFrameworkCore.Metadata.IModel model)
    {
        var entity = model.FindEntityType(typeof(RateLimitWindow))!;
        var table = entity.GetTableName()!;
        string Column(string property) => Quote(entity.FindProperty(property)!.GetColumnName());
        var (key, start, expires, count) = (Column(nameof(RateLimitWindow.Key)), Column(nameof(RateLimitWindow.WindowStartMs)),
            Column(nameof(RateLimitWindow.ExpiresAtMs)), Column(nameof(RateLimitWindow.Count)));
        var t = Quote(table);
        return $$"""
            INSERT INTO {{t}} ({{key}}, {{start}}, {{expires}}, {{count}}) VALUES ({0}, {1}, {2}, {4})
            ON CONFLICT ({{key}}, {{start}}) DO UPDATE SET {{count}} = {{t}}.{{count}} + {4}
            WHERE {{t}}.{{count}} + {4} <= {3}
            RETURNING {{count}} AS "Value"
            """;
    }

    /// <summary>
    /// <see cref="UpsertSql"/> for <paramref name="rows"/> partitions at once, each adding its own count
    /// all or nothing; RETURNING names the partitions that were counted. Values: window start, end, permits,
    /// then each partition's key and count.
    /// </summary>
    private static string ManyUpsertSql(Microsoft.EntityFrameworkCore.Metadata.IModel model, int rows)
    {
        var entity = model.FindEntityType(typeof(RateLimitWindow))!;
        string Column(string property) => Quote(entity.FindProperty(property)!.GetColumnName());
        var (key, start, expires, count) = (Column(nameof(RateLimitWindow.Key)), Column(nameof(RateLimitWindow.WindowStartMs)),
            Column(nameof(RateLimitWindow.ExpiresAtMs)), Column(nameof(RateLimitWindow.Count)));
        var t = Quote(entity.GetTableName()!);
        var sql = new StringBuilder($"INSERT INTO {t} ({key}, {start}, {expires}, {count}) VALUES ");
        for (var i = 0; i < rows; i++)
        {
            sql.Append(i == 0 ? "(" : ", (").Append('{').Append(3 + (2 * i)).Append("}, {0}, {1}, {").Append(4 + (2 * i)).Append("})");
        }

        return sql.Append($" ON CONFLICT ({key}, {start}) DO UPDATE SET {count} = {t}.{count} + excluded.{count}")
            .Append($" WHERE {t}.{count} + excluded.{count} <= {{2}} RETURNING {key} AS \"Value\"").ToString();
    }

    /// <summary><see cref="UpsertSql"/> without its result set: the rows it changed say whether it counted, which spares EF's query pipeline.</summary>
    private static string CountOnlySql(Microsoft.EntityFrameworkCore.Metadata.IModel model)
    {
        var sql = UpsertSql(model);
        return sql[..sql.LastIndexOf("RETURNING", StringComparison.Ordinal)].TrimEnd();
    }

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A new window was opened: now and then, drop the ones that ended so the table stays small.</summary>
    private async Task PruneAsync(long nowMs, CancellationToken ct)
    {
        var due = Interlocked.Read(ref _nextPruneMs);
        if (nowMs < due || Interlocked.CompareExchange(ref _nextPruneMs, nowMs + (long)PruneEvery.TotalMilliseconds, due) != due)
        {
            return;
        }

        await db.RateLimitWindows.Where(w => w.ExpiresAtMs <= nowMs).ExecuteDeleteAsync(ct);
    }
}

/// <summary>One limit's count for one partition in one window.</summary>
public sealed class RateLimitWindow
{
    /// <summary>SHA-256 of the limit's name and the partition, in hex.</summary>
    public string Key { get; set; } = "";

    public long WindowStartMs { get; set; }

    public long ExpiresAtMs { get; set; }

    public int Count { get; set; }
}

internal sealed class RateLimitWindowConfiguration : IEntityTypeConfiguration<RateLimitWindow>
{
    public void Configure(EntityTypeBuilder<RateLimitWindow> b)
    {
        b.HasKey(x => new { x.Key, x.WindowStartMs });
        b.Property(x => x.Key).HasMaxLength(64);
        b.HasIndex(x => x.ExpiresAtMs);
    }
}

public static class SharedRateLimiterExtensions
{
    /// <summary>For each feature that limits mail-sending requests; registering it twice is harmless.</summary>
    public static IServiceCollection AddSharedRateLimiter(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddScoped<SharedRateLimiter>();
        return services;
    }
}
