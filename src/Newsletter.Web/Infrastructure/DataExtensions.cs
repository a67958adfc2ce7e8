using System.Data.Common;
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
        var configured = builder.Configuration["Database:ConnectionString"];
        var connectionString = string.IsNullOrWhiteSpace(configured)
            ? new SqliteConnectionStringBuilder { DataSource = paths.DataFile("newsletter.db"), Pooling = true, DefaultTimeout = 30 }.ToString()
            : configured;

        builder.Services.AddDbContext<AppDbContext>(o => o
            .UseSqlite(connectionString, s => s.CommandTimeout(30))
            .AddInterceptors(new SqlitePragmas()));

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
/// instead of failing at once with "database is locked". Both are per connection, so set on open.
/// </summary>
internal sealed class SqlitePragmas : DbConnectionInterceptor
{
    private const string Pragmas = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
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
