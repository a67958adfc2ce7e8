using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// The one place that knows which database runs: it configures EF for it and registers its form of every
/// provider-specific SQL class in this folder. Feature code asks those classes, never the provider.
/// </summary>
public static class ProviderServices
{
    public static IServiceCollection AddProviderSql(this IServiceCollection services, DatabaseProvider provider)
    {
        if (provider == DatabaseProvider.PostgreSql)
        {
            services.AddSingleton<DatabaseErrors, PostgresDatabaseErrors>();
            services.AddSingleton<EraseHygiene, PostgresEraseHygiene>();
            services.AddSingleton<NewReaderQueue, PostgresNewReaderQueue>();
            services.AddSingleton<SubscriberGrowth, PostgresSubscriberGrowth>();
            services.AddSingleton<ReaderHistorySql, PostgresReaderHistorySql>();
            services.AddSingleton<LedgerSql, PostgresLedgerSql>();
            services.AddSingleton<SearchSql, PostgresSearchSql>();
            services.AddSingleton<SubscriberImportWriter, PostgresSubscriberImportWriter>();
            services.AddSingleton<WebhookSql, PostgresWebhookSql>();
        }
        else
        {
            services.AddSingleton<DatabaseErrors, SqliteDatabaseErrors>();
            services.AddSingleton<EraseHygiene, SqliteEraseHygiene>();
            services.AddSingleton<NewReaderQueue, SqliteNewReaderQueue>();
            services.AddSingleton<SubscriberGrowth, SqliteSubscriberGrowth>();
            services.AddSingleton<ReaderHistorySql, SqliteReaderHistorySql>();
            services.AddSingleton<LedgerSql, SqliteLedgerSql>();
            services.AddSingleton<SearchSql, SqliteSearchSql>();
            services.AddSingleton<SubscriberImportWriter, SqliteSubscriberImportWriter>();
            services.AddSingleton<WebhookSql, SqliteWebhookSql>();
        }

        return services;
    }

    /// <summary>
    /// Points EF at the database. Also used by the design-time factory and the tests, so `dotnet ef` and they
    /// build the same model, with the same SQLite pragmas, as the app runs.
    /// </summary>
    public static DbContextOptionsBuilder UseDatabase(this DbContextOptionsBuilder options, DatabaseProvider provider, string connectionString) =>
        provider == DatabaseProvider.PostgreSql
            ? options.UseNpgsql(connectionString, o => o.CommandTimeout(30))
            : options.UseSqlite(connectionString, o => o.CommandTimeout(30)).AddInterceptors(SqlitePragmas.Instance);

    /// <summary>
    /// The connection string to use, checked now so a typo fails the start with the setting's name. Without
    /// one, SQLite uses <paramref name="defaultSqliteFile"/> (newsletter.db in the data folder).
    /// </summary>
    public static string ConnectionString(DatabaseSettings settings, string defaultSqliteFile)
    {
        try
        {
            if (settings.ConnectionString is not { } configured)
            {
                return new SqliteConnectionStringBuilder { DataSource = defaultSqliteFile, Pooling = true, DefaultTimeout = 30 }.ToString();
            }

            _ = settings.Provider == DatabaseProvider.PostgreSql
                ? new NpgsqlConnectionStringBuilder(configured).ConnectionString
                : new SqliteConnectionStringBuilder(configured).ConnectionString;
            return configured;
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"Database:ConnectionString is not a valid {settings.Provider} connection string: {e.Message}", e);
        }
    }
}
