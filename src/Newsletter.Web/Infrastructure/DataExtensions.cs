using System.Data.Common;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.Infrastructure;

public static class DataExtensions
{
    /// <summary>
    /// Database:Provider picks where app data lives: Sqlite (default, newsletter.db in the data folder) or
    /// PostgreSql (Database:ConnectionString, several nodes). Its SQL classes come from Data/Providers.
    /// </summary>
    public static WebApplicationBuilder AddData(this WebApplicationBuilder builder, AppPaths paths)
    {
        var settings = DatabaseSettings.From(builder.Configuration);
        var connectionString = ProviderServices.ConnectionString(settings, paths.DataFile("newsletter.db"));

        // The options are built once, not per request: the connection string and interceptor never change.
        builder.Services.AddDbContext<AppDbContext>(o => o.UseDatabase(settings.Provider, connectionString), optionsLifetime: ServiceLifetime.Singleton);
        builder.Services.AddProviderSql(settings.Provider);
        builder.Services.AddHostedService<DatabaseMigrator>();
        if (settings.Provider == DatabaseProvider.Sqlite)
        {
            builder.Services.AddHostedService(sp => new SqliteCheckpointer(connectionString, sp.GetRequiredService<ILogger<SqliteCheckpointer>>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        }
        builder.Services.AddSingleton<InstallationKeys>();
        builder.Services.AddSingleton<SealedNumbers>();
        builder.Services.AddSingleton<Subscribers.AddressHashes>();

        var keys = builder.Services.AddDataProtection().SetApplicationName("Newsletter");
        if (settings.Provider == DatabaseProvider.PostgreSql)
        {
            // Every node reads the same key ring, so a cookie or token made on one node opens on any other.
            keys.PersistKeysToDbContext<AppDbContext>();
        }
        else
        {
            // One host: keys sit beside the database so cookies and tokens survive restarts.
            keys.PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(paths.DataFolder, "keys")));
        }

        // Linux has no DPAPI, so by default the key ring is protected by file permissions (0600) or, on
        // PostgreSQL, by the database's access rules. With a certificate each key is encrypted with it, and a
        // copy of data/keys or a database dump without the certificate opens nothing.
        if (builder.Configuration["DataProtection:CertificatePath"] is { Length: > 0 } certificate)
        {
            var path = paths.Resolve(certificate, certificate);
            if (!File.Exists(path))
            {
                throw new SettingsException($"DataProtection:CertificatePath names {path}, which does not exist.");
            }

            keys.ProtectKeysWithCertificate(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(
                path, builder.Configuration["DataProtection:CertificatePassword"], System.Security.Cryptography.X509Certificates.X509KeyStorageFlags.EphemeralKeySet));
        }

        return builder;
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
        await MigrateAsync(db, scope.ServiceProvider.GetRequiredService<Subscribers.AddressHashes>(), logger, cancellationToken);

        if (configuration.GetValue("Notes:ImportOnStartup", true))
        {
            await scope.ServiceProvider.GetRequiredService<Notes.NoteImporter>().ImportAsync(cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Brings the schema up to date: at start and by the `migrate` verb. The first query is where a wrong
    /// connection string or an unreachable server shows, so its failure names the setting to fix.
    /// </summary>
    public static async Task MigrateAsync(AppDbContext db, Subscribers.AddressHashes hashes, ILogger logger, CancellationToken ct)
    {
        List<string> applied;
        try
        {
            applied = [.. await db.Database.GetAppliedMigrationsAsync(ct)];
        }
        catch (Microsoft.Data.Sqlite.SqliteException e) when ((e.SqliteErrorCode & 0xFF) is SQLitePCL.raw.SQLITE_NOTADB or SQLitePCL.raw.SQLITE_CORRUPT)
        {
            // The file is there and is not (or no longer) a database: no restart will change that, so it is said as
            // a setting or a file to fix (78), not as a server to wait for (75, which systemd retries for ever).
            throw new BrokenDatabaseException(
                $"The database file is not a SQLite database, or is damaged: check Database:ConnectionString and the file it names (restore a backup if it was damaged). {e.Message}", e);
        }
        catch (Exception e) when (e is DbException or TimeoutException or InvalidOperationException { InnerException: DbException })
        {
            throw new UnreachableDatabaseException(
                $"Could not open the database: check Database:ConnectionString (and that the server is running). {e.Message}", e);
        }

        var known = db.Database.GetMigrations().ToList();
        if (applied.Except(known, StringComparer.Ordinal).ToList() is { Count: > 0 } unknown)
        {
            // An older build on a newer database said "up to date" and served (and wrote) a schema it did not know.
            throw new NewerDatabaseException(
                $"The database was migrated by a newer version of Newsletter ({string.Join(", ", unknown)}, which this one does not know). Run that version again, or restore a backup made before it.");
        }

        var pending = known.Except(applied, StringComparer.Ordinal).ToList();
        if (pending.Count > 0)
        {
            logger.LogInformation("Applying {Count} database migrations: {Migrations}", pending.Count, string.Join(", ", pending));
            await db.Database.MigrateAsync(ct);
        }

        await hashes.UpgradeLegacyAsync(db, logger, ct);
    }
}
