using System.Runtime.CompilerServices;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Newsletter.Mail;
using Newsletter.Web.Admin;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Jobs;

public static class JobsExtensions
{
    /// <summary>This process's Hangfire server name; Hangfire adds a random part to make the server's id.</summary>
    public static readonly string ServerName = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>
    /// Hangfire runs the work; the app's tables hold the truth (jobs carry only ids). Jobs:Storage picks
    /// where jobs live: Sqlite (one host), PostgreSql (several hosts), InMemory (tests, demos). Unset, jobs
    /// follow the app data: PostgreSql on Database:ConnectionString when Database:Provider is PostgreSql,
    /// since several nodes on one database need one job store too; Sqlite otherwise.
    /// </summary>
    public static WebApplicationBuilder AddJobs(this WebApplicationBuilder builder, AppPaths paths)
    {
        var storage = JobStorageSettings.From(builder.Configuration, paths);
        builder.Services.AddSingleton(storage);
        builder.Services.AddHangfire((services, config) =>
        {
            config
                .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings()
                .UseLogProvider(HangfireLogging.Instance);
            HangfireLogging.Register(services);
        });

        // Each app owns its storage instance through DI. Hangfire's global JobStorage.Current is shared by
        // every host in a process, so relying on it let two apps (in tests, or two roles in one process)
        // enqueue into each other's store: a job then ran against the wrong database.
        // One method per kind: the JIT loads a method's assemblies when it compiles it, so a SQLite node never loads
        // Hangfire.PostgreSql and Npgsql (nor Hangfire.InMemory) for a branch it does not take.
        builder.Services.AddSingleton<JobStorage>(_ => storage.Kind switch
        {
            JobStorageKind.InMemory => InMemory(),
            JobStorageKind.PostgreSql => PostgreSql(storage),
            _ => Sqlite(builder.Configuration, storage),
        });

        // Same for the activator: Hangfire registers the global JobActivator.Current, which the last host
        // to start overwrites, so a job could be built from another host's (even a disposed) container.
        builder.Services.AddSingleton<JobActivator>(sp => new global::Hangfire.AspNetCore.AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>()));

        if (builder.Configuration.GetValue("Jobs:Server", true))
        {
            var workers = WorkerCount(builder.Configuration);
            builder.Services.AddHangfireServer(o =>
            {
                o.WorkerCount = workers;
                o.Queues = ["default", "imports"];
                o.ServerName = ServerName;
            });
        }

        return builder;
    }

    /// <summary>
    /// Jobs:WorkerCount, refused at start when it is not a whole number of at least 1: a 0 or -1 used to become one
    /// worker without a word, and an operator who meant "none" (that is Jobs:Server=false) or "as many as cores" got
    /// neither.
    /// </summary>
    private static int WorkerCount(IConfiguration configuration)
    {
        var text = configuration["Jobs:WorkerCount"];
        if (string.IsNullOrWhiteSpace(text))
        {
            return 4;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var workers) && workers is >= 1 and <= 1000
            ? workers
            : throw new SettingsException($"Jobs:WorkerCount '{text}' is not a number of job workers from 1 to 1000 (the default is 4; Jobs:Server=false runs none on this node).");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static JobStorage InMemory() => new InMemoryStorage();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static JobStorage PostgreSql(JobStorageSettings storage) => new PostgreSqlStorage(
        new NpgsqlConnectionFactory(storage.PostgresConnectionString ?? throw new SettingsException("Jobs:Storage is PostgreSql but Jobs:PostgreSql:ConnectionString is empty."), new PostgreSqlStorageOptions()),
        new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = true });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static JobStorage Sqlite(IConfiguration configuration, JobStorageSettings storage) =>
        SqliteJobStorage.Create(configuration.GetSection("Jobs:Sqlite"), storage.SqlitePath);

    public static WebApplication MapJobsDashboard(this WebApplication app)
    {
        if (app.Configuration.GetValue("Jobs:Dashboard", true))
        {
            // Endpoint authorization replaces Hangfire's local-requests-only default: owners only (the dashboard deletes
            // and re-runs jobs), from anywhere.
            app.MapHangfireDashboard("/admin/jobs", new DashboardOptions
            {
                Authorization = [new AuthenticatedAuthorFilter()],
                DashboardTitle = "Jobs",
                AppPath = "/admin",
                DisplayStorageConnectionString = false,
            }).RequireAuthorization(AdminExtensions.OwnerPolicy);
        }

        return app;
    }
}

public enum JobStorageKind
{
    Sqlite,
    PostgreSql,
    InMemory,
}

/// <summary>
/// Where jobs live, decided once from Jobs:Storage and Database:Provider: the app registers the storage from it,
/// and the backup verb reads from it which file to copy without opening (or creating) the storage.
/// </summary>
public sealed record JobStorageSettings(JobStorageKind Kind, string SqlitePath, string? PostgresConnectionString)
{
    public static JobStorageSettings From(IConfiguration configuration, AppPaths paths)
    {
        var database = DatabaseSettings.From(configuration);
        var name = configuration["Jobs:Storage"] is { Length: > 0 } configured ? configured
            : database.Provider == DatabaseProvider.PostgreSql ? "PostgreSql" : "Sqlite";
        var kind = name.ToLowerInvariant() switch
        {
            "inmemory" => JobStorageKind.InMemory,
            "postgresql" or "postgres" => JobStorageKind.PostgreSql,
            "sqlite" => JobStorageKind.Sqlite,
            _ => throw new SettingsException($"Jobs:Storage '{name}' is not one of Sqlite, PostgreSql, InMemory."),
        };
        var postgres = configuration["Jobs:PostgreSql:ConnectionString"] is { Length: > 0 } jobsConnection ? jobsConnection
            : database.Provider == DatabaseProvider.PostgreSql ? database.ConnectionString : null;
        return new JobStorageSettings(kind, paths.Resolve(configuration["Jobs:Sqlite:Path"], paths.DataFile("jobs.db")), Prepared(postgres));
    }

    // Hangfire's PostgreSQL storage runs about twenty statements per job, the same few texts again and again:
    // prepared once per connection like the app's own (see ProviderServices.WithAutoPrepare).
    private static string? Prepared(string? connectionString)
    {
        try
        {
            return connectionString is null ? null : ProviderServices.WithAutoPrepare(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new SettingsException($"Jobs:PostgreSql:ConnectionString is not a valid PostgreSQL connection string: {e.Message}", e);
        }
    }
}

internal sealed class AuthenticatedAuthorFilter : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context) => context.GetHttpContext().User.Identity?.IsAuthenticated == true;
}
