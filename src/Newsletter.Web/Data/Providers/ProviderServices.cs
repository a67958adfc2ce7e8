using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Newsletter.Mail;
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
            services.AddScoped<ImportFiles, DatabaseImportFiles>();
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
            services.AddScoped<ImportFiles, FolderImportFiles>();
        }

        return services;
    }

    /// <summary>
    /// Points EF at the database. Also used by the design-time factory and the tests, so `dotnet ef` and they
    /// configure EF, with the same SQLite pragmas, as the app runs.
    /// </summary>
    /// <remarks>
    /// The app runs on the provider's compiled model (Data/CompiledModels, made by `dotnet ef dbcontext optimize`):
    /// building the model from the entity configurations was most of EF's start-up work, thousands of methods
    /// JIT-compiled before the first page, and a scan of every type in the assembly. Only `dotnet ef` itself
    /// (<paramref name="compiledModel"/> false, the design-time factory) builds it from the code, which is
    /// what migrations and a new compiled model are made from. `CompiledModelTests` fails when the two differ.
    /// </remarks>
    public static DbContextOptionsBuilder UseDatabase(this DbContextOptionsBuilder options, DatabaseProvider provider, string connectionString, bool compiledModel = true) =>
        provider == DatabaseProvider.PostgreSql ? UsePostgreSql(options, connectionString, compiledModel) : UseSqlite(options, connectionString, compiledModel);

    // One method per provider: the JIT loads the assemblies a method names when it compiles it, so a SQLite
    // node never loads Npgsql and its EF provider (and their type data) for the branch it does not take.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static DbContextOptionsBuilder UsePostgreSql(DbContextOptionsBuilder options, string connectionString, bool compiledModel)
    {
        options.UseNpgsql(connectionString, o => o.CommandTimeout(30));
        return compiledModel ? RunOn(options, CompiledModels.PostgreSql.AppDbContextModel.Instance) : options;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static DbContextOptionsBuilder UseSqlite(DbContextOptionsBuilder options, string connectionString, bool compiledModel)
    {
        options.UseSqlite(connectionString, o => o.CommandTimeout(30)).AddInterceptors(SqlitePragmas.Instance);
        return compiledModel ? RunOn(options, CompiledModels.Sqlite.AppDbContextModel.Instance) : options;
    }

    // Migrate() would otherwise build the model from the code and the migrations' snapshot and compare them
    // before every first start, the work the compiled model saves; the tests make that comparison instead
    // (MigrationTests, CompiledModelTests), so a build whose model and migrations disagree never ships.
    private static DbContextOptionsBuilder RunOn(DbContextOptionsBuilder options, Microsoft.EntityFrameworkCore.Metadata.IModel model) =>
        options.UseModel(model).ConfigureWarnings(w => w.Ignore(Microsoft.EntityFrameworkCore.Diagnostics.RelationalEventId.PendingModelChangesWarning));

    /// <summary>
    /// Checks a PostgreSQL connection string and, unless it says otherwise, has Npgsql prepare a statement on a
    /// connection once it has run there a few times: the server otherwise parses and plans the ledger's
    /// <c>UPDATE ... FROM unnest</c> and every EF query afresh on each execution. Behind a pooler that cannot
    /// keep prepared statements (PgBouncer in transaction mode before 1.21) an operator sets <c>Max Auto Prepare=0</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static string WithAutoPrepare(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // The raw keys, as written: Npgsql's builder answers ContainsKey for every keyword it knows.
        var written = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!written.Keys.Cast<string>().Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase)))
        {
            builder.MaxAutoPrepare = AutoPrepared;
        }

        return builder.ConnectionString;
    }

    /// <summary>How many statements each PostgreSQL connection keeps prepared when the connection string does not say.</summary>
    public const int AutoPrepared = 100;

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

            if (settings.Provider == DatabaseProvider.PostgreSql)
            {
                return WithAutoPrepare(configured);
            }

            _ = new SqliteConnectionStringBuilder(configured).ConnectionString;
            return configured;
        }
        catch (ArgumentException e)
        {
            throw new SettingsException($"Database:ConnectionString is not a valid {settings.Provider} connection string: {e.Message}", e);
        }
    }
}
