using System.Net;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.States;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Newsletter.Hangfire.Sqlite;
using Newsletter.Testing;
using Newsletter.Web.Jobs;

namespace Newsletter.Tests.Jobs;

public class JobsDashboardTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryDashboardPageAnswersOkOnTheSqliteStorage()
    {
        using var app = new NewsletterApp(new() { ["Jobs:Storage"] = "Sqlite", ["Jobs:Sqlite:QueuePollInterval"] = "00:00:00.200" });
        var storage = Assert.IsType<SqliteStorage>(app.Services.GetRequiredService<JobStorage>());
        Assert.StartsWith(app.DataFolder, storage.Options.Path, StringComparison.Ordinal);
        var client = app.Services.GetRequiredService<IBackgroundJobClient>();
        var monitor = storage.GetMonitoringApi();

        var parked = client.Enqueue("parked", () => DashboardJobs.Noop());
        var scheduled = client.Schedule(() => DashboardJobs.Noop(), TimeSpan.FromDays(1));
        var awaiting = client.ContinueJobWith(scheduled, () => DashboardJobs.Noop());
        var deleted = client.Schedule(() => DashboardJobs.Noop(), TimeSpan.FromDays(1));
        client.Delete(deleted);
        var succeeded = client.Enqueue(() => DashboardJobs.Noop());
        var failed = client.Enqueue(() => DashboardJobs.Fail());
        var retrying = client.Enqueue(() => DashboardJobs.FailAndRetryLater());
        var processing = client.Enqueue(() => DashboardJobs.Block());
        app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate("dashboard-yearly", () => DashboardJobs.Noop(), "0 0 1 1 *");
        try
        {
            await WaitForAsync(() => State(storage, succeeded) == SucceededState.StateName
                && State(storage, failed) == FailedState.StateName
                && monitor.ProcessingCount() == 1
                && app.Services.GetRequiredService<JobStorage>().GetConnection().GetAllItemsFromSet("retries").Contains(retrying));

            var author = app.CreateBrowserClient();
            await Forms.SetUpOwnerAsync(author);
            var pages = new Dictionary<string, string?>
            {
                ["/admin/jobs"] = null,
                ["/admin/jobs/jobs/enqueued"] = "parked",
                ["/admin/jobs/jobs/enqueued/parked"] = parked,
                ["/admin/jobs/jobs/enqueued/fetched/default"] = null,
                ["/admin/jobs/jobs/scheduled"] = scheduled,
                ["/admin/jobs/jobs/processing"] = processing,
                ["/admin/jobs/jobs/succeeded"] = succeeded,
                ["/admin/jobs/jobs/failed"] = failed,
                ["/admin/jobs/jobs/deleted"] = deleted,
                ["/admin/jobs/jobs/awaiting"] = awaiting,
                ["/admin/jobs/retries"] = retrying,
                ["/admin/jobs/recurring"] = "dashboard-yearly",
                ["/admin/jobs/servers"] = Environment.MachineName.ToLowerInvariant(),
                [$"/admin/jobs/jobs/details/{succeeded}"] = "Succeeded",
                [$"/admin/jobs/jobs/details/{failed}"] = "planned failure",
                [$"/admin/jobs/jobs/details/{awaiting}"] = "Awaiting",
            };
            foreach (var (url, expected) in pages)
            {
                var response = await author.GetAsync(url, Ct);
                var body = await response.Content.ReadAsStringAsync(Ct);
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url} answered {(int)response.StatusCode}: {body[..Math.Min(2000, body.Length)]}");
                if (expected is not null)
                {
                    Assert.True(body.Contains(expected, StringComparison.OrdinalIgnoreCase), $"{url} does not show '{expected}'");
                }
            }
        }
        finally
        {
            DashboardJobs.Release();
        }
    }

    [Fact]
    public async Task TheAppRunsAJobOnHangfirePostgreSql()
    {
        using var postgres = PostgresServer.Start();
        var connectionString = postgres.CreateDatabase("jobs_smoke");
        using var app = new LoggedApp(new() { ["Jobs:Storage"] = "PostgreSql", ["Jobs:PostgreSql:ConnectionString"] = connectionString });
        var storage = Assert.IsType<PostgreSqlStorage>(app.Services.GetRequiredService<JobStorage>());
        var marker = Path.Combine(app.Root, "ran.txt");
        var id = app.Services.GetRequiredService<IBackgroundJobClient>().Enqueue(() => DashboardJobs.Touch(marker));
        await WaitForAsync(() => State(storage, id) == SucceededState.StateName, () => $"state {State(storage, id)}: {app.JobDiagnostics()} | {PostgresRows(connectionString)} | log: {string.Join(" | ", app.Log.TakeLast(60))}");
        Assert.True(File.Exists(marker));
        Assert.Contains(storage.GetMonitoringApi().Servers(), s => s.Queues.Contains("default"));

        // Hangfire's statements are prepared on its connections, as the app's are (this job ran with that on).
        Assert.Contains("Max Auto Prepare=100", app.Services.GetRequiredService<JobStorageSettings>().PostgresConnectionString, StringComparison.Ordinal);
    }

    [Fact]
    public void AMalformedJobsConnectionStringStopsTheStartAndNamesTheSetting()
    {
        using var app = new NewsletterApp(new() { ["Jobs:Storage"] = "PostgreSql", ["Jobs:PostgreSql:ConnectionString"] = "Hots=nowhere;Databse=x" });
        var error = Assert.Throws<Newsletter.Mail.SettingsException>(() => app.CreateClient());
        Assert.Contains("Jobs:PostgreSql:ConnectionString is not a valid PostgreSQL connection string", error.ToString(), StringComparison.Ordinal);
    }

    /// <summary>What the queue, lock and server tables hold, for a failure message.</summary>
    private static string PostgresRows(string connectionString)
    {
        using var connection = new Npgsql.NpgsqlConnection(connectionString);
        connection.Open();
        var lines = new List<string>();
        foreach (var sql in new[]
        {
            "SELECT 'queue ' || jobid || ' ' || queue || ' fetched ' || COALESCE(fetchedat::text, '-') FROM hangfire.jobqueue",
            "SELECT 'lock ' || resource || ' ' || COALESCE(acquired::text, '-') FROM hangfire.lock",
            "SELECT 'server ' || id || ' ' || lastheartbeat FROM hangfire.server",
            "SELECT 'state ' || jobid || ' ' || name || ' ' || createdat FROM hangfire.state ORDER BY id",
        })
        {
            using var command = new Npgsql.NpgsqlCommand(sql, connection);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                lines.Add(reader.GetString(0));
            }
        }

        return string.Join(" | ", lines);
    }

    private static string? State(JobStorage storage, string id)
    {
        using var connection = storage.GetConnection();
        return connection.GetStateData(id)?.Name;
    }

    /// <summary>The deadline only bounds a broken run; on a loaded machine a server can take a while to start.</summary>
    private static async Task WaitForAsync(Func<bool> condition, Func<string>? describe = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Jobs did not reach the expected states in 120 s. " + describe?.Invoke());
            }

            await Task.Delay(100, Ct);
        }
    }
}

/// <summary>The app with its log kept, so a failure can say what Hangfire reported.</summary>
internal sealed class LoggedApp(Dictionary<string, string?> settings) : NewsletterApp(settings)
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Log { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(new QueueLoggerProvider(Log)));
    }

    private sealed class QueueLoggerProvider(System.Collections.Concurrent.ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(categoryName, lines);

        public void Dispose()
        {
        }
    }

    private sealed class QueueLogger(string category, System.Collections.Concurrent.ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel) && category.StartsWith("Hangfire", StringComparison.Ordinal))
            {
                lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)} {exception?.GetType().Name}: {exception?.Message}");
            }
        }
    }
}

/// <summary>Jobs the dashboard test puts in each state.</summary>
public static class DashboardJobs
{
    private static readonly ManualResetEventSlim Released = new();

    public static void Noop()
    {
    }

    [AutomaticRetry(Attempts = 0)]
    public static void Fail() => throw new InvalidOperationException("planned failure");

    [AutomaticRetry(Attempts = 3, DelaysInSeconds = [3600])]
    public static void FailAndRetryLater() => throw new InvalidOperationException("planned failure, retried in an hour");

    /// <summary>Stays in Processing until the test has seen the page (or a minute passes).</summary>
    public static void Block() => Released.Wait(TimeSpan.FromSeconds(60));

    public static void Release() => Released.Set();

    public static void Touch(string path) => File.WriteAllText(path, "ran");
}
