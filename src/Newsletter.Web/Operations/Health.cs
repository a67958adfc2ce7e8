using System.Text.Json;
using System.Text.Json.Serialization;
using Hangfire;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Jobs;
using Newsletter.Web.Mail;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Operations;

/// <summary>
/// Health endpoints for load balancers, container runtimes and monitors, anonymous and never cached:
/// <list type="bullet">
/// <item><c>/health/live</c>: the process answers HTTP. Nothing else, so a database outage never makes an
/// orchestrator restart every node at once.</item>
/// <item><c>/health/ready</c>: whether this node can do its work: the database, the job storage, the job
/// servers' and this node's send heartbeats, the email templates, disk space in the data folder, the SMTP relay.</item>
/// <item><c>/healthz</c>: the older name of <c>/health/ready</c>, kept for deployments that probe it.</item>
/// </list>
/// Each answers a JSON body naming every check, its status and, when it is not healthy, why. A check whose
/// failure is shared by every node and stops no page (a broken template, a silent relay, no job server
/// anywhere) is Degraded, answered 200, so a balancer doesn't take the whole site down over it; what makes
/// this node unable to serve (no database, no job storage, a full disk, its own job server stopped) is
/// Unhealthy, answered 503. Exception messages go to the log only: they can hold host names and paths.
/// </summary>
public static class HealthExtensions
{
    public const string LivePath = "/health/live";

    public const string ReadyPath = "/health/ready";

    public const string LegacyPath = "/healthz";

    private const string Ready = "ready";

    /// <summary>What a check's failure means, said instead of the exception's own message.</summary>
    private static readonly Dictionary<string, string> Failures = new(StringComparer.Ordinal)
    {
        ["database"] = "The database cannot be read",
        ["jobs"] = "The job storage cannot be read",
        ["job-servers"] = "The job servers' heartbeats cannot be read",
        ["mail-relay"] = "The relay's state cannot be read from the database",
    };

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        // Read by people and monitors, never put into HTML: an apostrophe stays an apostrophe.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    public static WebApplicationBuilder AddHealth(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<HealthOptions>().Bind(builder.Configuration.GetSection("Health"));
        builder.Services.AddSingleton(new NodeStart(DateTimeOffset.UtcNow));
        builder.Services.AddHealthChecks()
            // One row by its key proves the connection and a migrated schema; CanConnect would prove only the first.
            .AddDbContextCheck<AppDbContext>("database", tags: [Ready],
                customTestQuery: (db, ct) => db.ContentVersions.AsNoTracking().AnyAsync(v => v.Id == ContentVersion.RowId, ct))
            .AddCheck<DatabaseWriteHealthCheck>("database-write", tags: [Ready])
            .AddCheck<JobStorageHealthCheck>("jobs", tags: [Ready])
            .AddCheck<JobServersHealthCheck>("job-servers", tags: [Ready])
            .AddCheck<SendNodeHealthCheck>("send-node", tags: [Ready])
            .AddCheck<TemplatesHealthCheck>("templates", tags: [Ready])
            .AddCheck<DiskSpaceHealthCheck>("disk", tags: [Ready])
            .AddCheck<MailRelayHealthCheck>("mail-relay", tags: [Ready]);
        // A database or job store that hangs must not hang the probe: the balancer needs an answer.
        builder.Services.PostConfigure<HealthCheckServiceOptions>(o =>
        {
            var timeout = builder.Configuration.GetValue("Health:CheckTimeout", TimeSpan.FromSeconds(5));
            foreach (var registration in o.Registrations)
            {
                registration.Timeout = timeout;
            }
        });
        return builder;
    }

    public static WebApplication MapHealth(this WebApplication app)
    {
        app.MapHealthChecks(LivePath, new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync }).AllowAnonymous();
        var ready = new HealthCheckOptions { Predicate = r => r.Tags.Contains(Ready), ResponseWriter = WriteAsync };
        app.MapHealthChecks(ReadyPath, ready).AllowAnonymous();
        app.MapHealthChecks(LegacyPath, ready).AllowAnonymous();
        return app;
    }

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        var body = new HealthBody(
            report.Status.ToString(),
            [.. report.Entries.Select(e => new CheckBody(
                e.Key,
                e.Value.Status.ToString(),
                Describe(e.Key, e.Value),
                Math.Round(e.Value.Duration.TotalMilliseconds, 1),
                e.Value.Data.Count > 0 ? e.Value.Data : null))]);
        return context.Response.WriteAsJsonAsync(body, Json, "application/json; charset=utf-8");
    }

    private static string? Describe(string name, HealthReportEntry entry)
    {
        if (entry.Exception is not { } e)
        {
            return entry.Description ?? (entry.Status == HealthStatus.Healthy ? null : "The check did not pass.");
        }

        var what = e is OperationCanceledException ? "timed out" : e.GetType().Name;
        return $"{Failures.GetValueOrDefault(name, "The check failed")} ({what}); the log says why.";
    }

    private sealed record HealthBody(string Status, IReadOnlyList<CheckBody> Checks);

    private sealed record CheckBody(string Name, string Status, string? Description, double DurationMs, IReadOnlyDictionary<string, object>? Data);
}

/// <summary>The "Health" section of appsettings.json.</summary>
public sealed class HealthOptions
{
    /// <summary>Free space in the data folder below which the node is Degraded: time to add space before writes fail.</summary>
    public long DiskWarningMegabytes { get; set; } = 2048;

    /// <summary>Free space below which the node is Unhealthy: SQLite, the job store and the outbox are about to fail writing.</summary>
    public long DiskMinimumMegabytes { get; set; } = 256;
}

/// <summary>When this node built its host: the heartbeats are given until a minute or two after it to appear.</summary>
public sealed record NodeStart(DateTimeOffset At)
{
    /// <summary>Long enough for Hangfire's server to announce itself and the send node to write its first beat.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(2);

    public bool Starting(DateTimeOffset now) => now - At < Grace;
}

/// <summary>Opens a connection to the job storage and reads one small set: Hangfire can enqueue and fetch.</summary>
internal sealed class JobStorageHealthCheck(JobStorage storage) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var connection = storage.GetConnection();
        connection.GetAllItemsFromSet("recurring-jobs");
        return Task.FromResult(HealthCheckResult.Healthy());
    }
}

/// <summary>
/// Hangfire's servers beat every 30 s. On a node that runs jobs, its own server must have beaten lately; on a
/// web-only node (Jobs:Server=false), some server somewhere must have, or nothing runs the jobs it enqueues.
/// </summary>
internal sealed class JobServersHealthCheck(JobStorage storage, IConfiguration configuration, NodeStart start, TimeProvider clock) : IHealthCheck
{
    /// <summary>Four missed beats: a server this quiet is stuck or gone, not merely busy.</summary>
    public static readonly TimeSpan Silence = TimeSpan.FromMinutes(2);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var servers = storage.GetMonitoringApi().Servers();
        var live = servers.Count(s => s.Heartbeat is { } beat && now - beat < Silence);
        var data = new Dictionary<string, object> { ["liveServers"] = live };
        if (!configuration.GetValue("Jobs:Server", true))
        {
            return Task.FromResult(live > 0
                ? HealthCheckResult.Healthy($"{live} job server(s) beating; this node runs none (Jobs:Server=false).", data)
                : HealthCheckResult.Degraded($"No job server has beaten in the last {Silence.TotalMinutes:N0} minutes: mail and sends this node enqueues wait until one runs.", data: data));
        }

        var prefix = JobsExtensions.ServerName + ":";
        var own = servers.FirstOrDefault(s => s.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));
        if (own?.Heartbeat is { } heartbeat && now - heartbeat < Silence)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"This node's job server beat {(now - heartbeat).TotalSeconds:N0} s ago; {live} live in all.", data));
        }

        if (start.Starting(clock.GetUtcNow()))
        {
            return Task.FromResult(HealthCheckResult.Healthy("This node's job server is starting.", data));
        }

        return Task.FromResult(HealthCheckResult.Unhealthy(own?.Heartbeat is { } last
            ? $"This node's job server last beat {(now - last).TotalSeconds:N0} s ago: its background jobs are not running."
            : "This node's job server is not registered in the job storage: its background jobs are not running.", data: data));
    }
}

/// <summary>
/// A sending node's heartbeat renews its workers' leases: once it stops reaching the database, peers take its
/// deliveries and its workers stop sending. A node that runs no jobs doesn't send, and has nothing to say here.
/// </summary>
internal sealed class SendNodeHealthCheck(SendNode node, IConfiguration configuration, IOptions<SendingOptions> options, NodeStart start, TimeProvider clock) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!configuration.GetValue("Jobs:Server", true))
        {
            return Task.FromResult(HealthCheckResult.Healthy("This node does not send (Jobs:Server=false)."));
        }

        var now = clock.GetUtcNow();
        var last = node.LastHeartbeat;
        var timeout = options.Value.NodeTimeout;
        if (last is { } beat && now - beat < timeout)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"Beat {(now - beat).TotalSeconds:N0} s ago."));
        }

        if (last is null && start.Starting(now))
        {
            return Task.FromResult(HealthCheckResult.Healthy("Starting."));
        }

        var when = last is { } l ? $"last reached the database {(now - l).TotalSeconds:N0} s ago" : "has not reached the database since the node started";
        return Task.FromResult(HealthCheckResult.Unhealthy(
            $"This node's send heartbeat {when} (Sending:NodeTimeout is {timeout.TotalSeconds:N0} s): its workers stop sending and peers take over its deliveries."));
    }
}

/// <summary>
/// Every email's templates load and parse, as the start-up check demands, re-checked because authors edit them
/// on a running site. One stat per file when nothing changed. The file's name and line are given, not the folder.
/// </summary>
internal sealed class TemplatesHealthCheck(TemplateRenderer templates) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            templates.ValidateAll(MailExtensions.Templates);
            return Task.FromResult(HealthCheckResult.Healthy());
        }
        catch (TemplateException e)
        {
            var folder = templates.Folder.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
            return Task.FromResult(HealthCheckResult.Degraded(e.Message.Replace(folder, "", StringComparison.Ordinal)));
        }
    }
}

/// <summary>
/// SQLite has one writer per file, and any process that opens it (a <c>sqlite3</c> shell left inside a transaction,
/// a copy tool that locks) can hold that lock as long as it likes: pages are still read and served, while every
/// sign-up, send outcome and edit waits its busy timeout and fails with a 500. The read check above cannot see
/// that, so this one takes the write lock for an instant (<c>BEGIN IMMEDIATE</c>, then <c>ROLLBACK</c>, writing
/// nothing) on a connection of its own, so the pool's connections keep their pragmas. Degraded, not Unhealthy: the
/// pages still serve, and on one host a balancer that took the node out would take the whole site down with it.
/// PostgreSQL has no such lock; the check passes there without a query.
/// </summary>
internal sealed class DatabaseWriteHealthCheck(AppDbContext db) : IHealthCheck
{
    /// <summary>Far longer than the app's own writers hold the lock (milliseconds), far shorter than their 10 s wait.</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!db.Database.IsSqlite())
        {
            return HealthCheckResult.Healthy();
        }

        var builder = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(db.Database.GetConnectionString())
        {
            Pooling = false,
            DefaultTimeout = (int)Wait.TotalSeconds,
        };
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(builder.ToString());
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // One statement per call: the pragma answers a row, and a reader stopped at a row leaves the statements
        // after it unrun.
        command.CommandText = $"PRAGMA busy_timeout = {(int)Wait.TotalMilliseconds}";
        await command.ExecuteScalarAsync(cancellationToken);
        try
        {
            command.CommandText = "BEGIN IMMEDIATE";
            await command.ExecuteNonQueryAsync(cancellationToken);
            command.CommandText = "ROLLBACK";
            await command.ExecuteNonQueryAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Microsoft.Data.Sqlite.SqliteException e) when (e.SqliteErrorCode is 5 or 6)
        {
            // SQLITE_BUSY or SQLITE_LOCKED: someone else holds the write lock.
            return HealthCheckResult.Degraded(
                $"Another process has held the database's write lock for more than {Wait.TotalSeconds:N0} s: pages are served, but sign-ups, sends and edits wait and then fail. " +
                "Find it with `fuser` or `lsof` on the database file (newsletter.db in the data folder, unless Database:ConnectionString names another): a sqlite3 shell left in a transaction, a copy tool. Then end it.");
        }
    }
}

/// <summary>Free space on the data folder's file system, against Health:DiskWarningMegabytes and Health:DiskMinimumMegabytes.</summary>
internal sealed class DiskSpaceHealthCheck(AppPaths paths, IOptions<HealthOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var free = new DriveInfo(paths.DataFolder).AvailableFreeSpace / (1024 * 1024);
        var data = new Dictionary<string, object> { ["freeMegabytes"] = free };
        var o = options.Value;
        if (free < o.DiskMinimumMegabytes)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"{free:N0} MB free in the data folder, below Health:DiskMinimumMegabytes ({o.DiskMinimumMegabytes:N0} MB): writes are about to fail.", data: data));
        }

        return Task.FromResult(free < o.DiskWarningMegabytes
            ? HealthCheckResult.Degraded($"{free:N0} MB free in the data folder, below Health:DiskWarningMegabytes ({o.DiskWarningMegabytes:N0} MB).", data: data)
            : HealthCheckResult.Healthy($"{free:N0} MB free in the data folder.", data));
    }
}

/// <summary>
/// The relay as the sending nodes last saw it (<see cref="RelayStatus"/>), read from the database: never an SMTP
/// connection per probe, which a relay would count against us and a probe storm would turn into an outage. The
/// relay's own reply stays on the dashboard, where only authors see it.
/// </summary>
internal sealed class MailRelayHealthCheck(AppDbContext db, TimeProvider clock, IOptions<SendingOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (await RelayStatus.FailingAsync(db, clock, options.Value, cancellationToken) is not { } failing)
        {
            return HealthCheckResult.Healthy("No sending node reports a failing relay.");
        }

        var seconds = (long)(clock.GetUtcNow() - failing.Since).TotalSeconds;
        return HealthCheckResult.Degraded(
            $"The SMTP relay has not accepted mail since {failing.Since:HH:mm:ss} UTC ({seconds:N0} s), as the sending nodes saw it; the admin dashboard shows its last answer.",
            data: new Dictionary<string, object> { ["failingSeconds"] = seconds });
    }
}
