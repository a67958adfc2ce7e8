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
        ArgumentOutOfRangeException.ThrowIfLessThan(limit.Window, TimeSpan.FromSeconds(1));
        var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var windowMs = (long)limit.Window.TotalMilliseconds;
        var startMs = nowMs - (nowMs % windowMs);
        var counted = await db.Database.SqlQueryRaw<int>(Statements.GetValue(db.Model, UpsertSql), KeyOf(limit.Name, partition), startMs, startMs + windowMs, limit.Permits, permits)
            .ToListAsync(ct);
        if (counted is [var first] && first == permits)
        {
            await PruneAsync(nowMs, ct);
        }

        return counted.Count == 1;
    }

    /// <summary>
    /// For a writer that takes many permits in its own transaction (<see cref="Subscribers.SignUpWriter"/>): the
    /// same statement, prepared once and run once per permit on the transaction's connection, without EF's
    /// per-query work. Expired windows are dropped as by <see cref="TryAcquireAsync(RateLimit, string, CancellationToken)"/>.
    /// </summary>
    public PermitCommand Prepare() => new(this, db, clock);

    public sealed class PermitCommand : IAsyncDisposable
    {
        private readonly SharedRateLimiter _limiter;
        private readonly TimeProvider _clock;
        private readonly System.Data.Common.DbCommand _command;
        private readonly System.Data.Common.DbParameter[] _parameters;

        internal PermitCommand(SharedRateLimiter limiter, AppDbContext db, TimeProvider clock)
        {
            _limiter = limiter;
            _clock = clock;
            var transaction = db.Database.CurrentTransaction ?? throw new InvalidOperationException("A permit command runs in the caller's transaction.");
            _command = db.Database.GetDbConnection().CreateCommand();
            _command.Transaction = Microsoft.EntityFrameworkCore.Storage.DbContextTransactionExtensions.GetDbTransaction(transaction);
            _command.CommandText = string.Format(System.Globalization.CultureInfo.InvariantCulture, Statements.GetValue(db.Model, UpsertSql), "@p0", "@p1", "@p2", "@p3", "@p4");
            _parameters = new System.Data.Common.DbParameter[5];
            for (var i = 0; i < _parameters.Length; i++)
            {
                _parameters[i] = _command.CreateParameter();
                _parameters[i].ParameterName = "@p" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                _command.Parameters.Add(_parameters[i]);
            }
        }

        public async Task<bool> TryAcquireAsync(RateLimit limit, string partition, CancellationToken ct)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limit.Permits, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(limit.Window, TimeSpan.FromSeconds(1));
            var nowMs = _clock.GetUtcNow().ToUnixTimeMilliseconds();
            var windowMs = (long)limit.Window.TotalMilliseconds;
            var startMs = nowMs - (nowMs % windowMs);
            _parameters[0].Value = KeyOf(limit.Name, partition);
            _parameters[1].Value = startMs;
            _parameters[2].Value = startMs + windowMs;
            _parameters[3].Value = limit.Permits;
            _parameters[4].Value = 1;
            var counted = await _command.ExecuteScalarAsync(ct);
            if (counted is null or DBNull)
            {
                return false;
            }

            if (Convert.ToInt64(counted, System.Globalization.CultureInfo.InvariantCulture) == 1)
            {
                await _limiter.PruneAsync(nowMs, ct);
            }

            return true;
        }

        public ValueTask DisposeAsync() => _command.DisposeAsync();
    }

    /// <summary>How long until the current window of <paramref name="limit"/> ends and a used-up partition may ask again.</summary>
    public TimeSpan UntilNextWindow(RateLimit limit)
    {
        var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var windowMs = (long)limit.Window.TotalMilliseconds;
        return TimeSpan.FromMilliseconds(windowMs - (nowMs % windowMs));
    }

    /// <summary>
    /// Whether the partition has used up this window's permits, without taking one: for limits that count
    /// only failures (a wrong password), checked before the attempt and taken after it fails.
    /// </summary>
    public async Task<bool> IsUsedUpAsync(RateLimit limit, string partition, CancellationToken ct)
    {
        var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var windowMs = (long)limit.Window.TotalMilliseconds;
        var startMs = nowMs - (nowMs % windowMs);
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
