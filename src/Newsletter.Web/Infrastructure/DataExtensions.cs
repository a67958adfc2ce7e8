using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Newsletter.Web.Data;

namespace Newsletter.Web.Infrastructure;

public static class DataExtensions
{
    /// <summary>SQLite on the data folder by default; the connection string can point anywhere.</summary>
    public static WebApplicationBuilder AddData(this WebApplicationBuilder builder, AppPaths paths)
    {
        // App data runs on SQLite only: the ledger, the import and search speak SQLite's SQL. A provider
        // this build cannot honour stops the start, instead of quietly writing to a SQLite file beside it.
        var provider = builder.Configuration["Database:Provider"];
        if (!string.IsNullOrWhiteSpace(provider) && !provider.Equals("Sqlite", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"Database:Provider '{provider}' is not supported: app data runs on SQLite only. Leave it at Sqlite; " +
                "to share jobs between hosts, set Jobs:Storage=PostgreSql instead.");
        }

        var configured = builder.Configuration["Database:ConnectionString"];
        var connectionString = string.IsNullOrWhiteSpace(configured)
            ? new SqliteConnectionStringBuilder { DataSource = paths.DataFile("newsletter.db"), Pooling = true, DefaultTimeout = 30 }.ToString()
            : configured;

        // The options are built once, not per request: the connection string and interceptor never change.
        builder.Services.AddDbContext<AppDbContext>(o => o
            .UseSqlite(connectionString, s => s.CommandTimeout(30))
            .AddInterceptors(SqlitePragmas.Instance), optionsLifetime: ServiceLifetime.Singleton);

        builder.Services.AddHostedService<DatabaseMigrator>();

        // Keys sit beside the database so cookies and tokens survive restarts.
        builder.Services.AddDataProtection()
            .SetApplicationName("Newsletter")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(paths.DataFolder, "keys")));
        return builder;
    }
}

/// <summary>
/// WAL lets readers run beside the one writer, and the busy timeout makes a writer wait for the lock
/// instead of failing at once with "database is locked". Both belong to the SQLite connection, which
/// the pool keeps open between uses, so they are set once per physical connection: EF opens a pooled
/// connection for nearly every query, and four PRAGMAs each time were a fifth of a request's work.
/// </summary>
internal sealed class SqlitePragmas : DbConnectionInterceptor
{
    public static SqlitePragmas Instance { get; } = new();

    private const string Pragmas = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

    // Keyed by the native handle, which lives as long as the physical connection does.
    private readonly ConditionalWeakTable<object, object> _configured = new();

    private SqlitePragmas()
    {
    }

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        if (IsNew(connection))
        {
            using var command = connection.CreateCommand();
            command.CommandText = Pragmas;
            command.ExecuteNonQuery();
        }
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (IsNew(connection))
        {
            await using var command = connection.CreateCommand();
            command.CommandText = Pragmas;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private bool IsNew(DbConnection connection) =>
        connection is not SqliteConnection { Handle: { } handle } || _configured.TryAdd(handle, handle);
}

/// <summary>
/// Applies EF migrations before the app takes requests, so a fresh machine gets its schema from the
/// committed migrations and an upgrade never runs on an old schema. Then imports notes/ when configured.
/// </summary>
public sealed class DatabaseMigrator(IServiceProvider services, IConfiguration configuration, ILogger<DatabaseMigrator> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count > 0)
        {
            logger.LogInformation("Applying {Count} database migrations: {Migrations}", pending.Count, string.Join(", ", pending));
            await db.Database.MigrateAsync(cancellationToken);
        }

        if (configuration.GetValue("Notes:ImportOnStartup", true))
        {
            await scope.ServiceProvider.GetRequiredService<Notes.NoteImporter>().ImportAsync(cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
