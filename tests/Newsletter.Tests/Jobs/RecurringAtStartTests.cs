using System.Diagnostics;
using Hangfire;
using Newsletter.Hangfire.Sqlite;
using Newsletter.Testing;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Tests.Jobs;

/// <summary>
/// A node killed while Hangfire's scheduler held a recurring job's lock leaves that lock to the storage's timeout.
/// A restart then waited for it while registering its recurring jobs and failed to start at all (exit 134 in a
/// two-node send with kills, on PostgreSQL under load). It must start, say why in the log, and try again later.
/// </summary>
public class RecurringAtStartTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ANodeStartsWhileADeadNodesRecurringJobLockIsStillHeld()
    {
        using var app = new NewsletterApp(new() { ["Jobs:Storage"] = "Sqlite" }, provider: DatabaseProvider.Sqlite);
        Directory.CreateDirectory(app.DataFolder);
        // The dead node's lock: taken through a storage of its own on the same file, and never given back here.
        using var dead = new SqliteStorage(new SqliteStorageOptions { Path = Path.Combine(app.DataFolder, "jobs.db") });
        using var connection = dead.GetConnection();
        using var held = connection.AcquireDistributedLock("lock:recurring-job:" + Web.Welcome.WelcomeJob.RecurringJobId, TimeSpan.FromSeconds(5));

        var started = Stopwatch.StartNew();
        var client = app.CreateClient();
        var home = await client.GetAsync("/", Ct);

        Assert.True(home.IsSuccessStatusCode, $"{home.StatusCode} after {started.Elapsed}\n{app.ServerLog}");
        Assert.Contains("The welcome series' recurring job: the job storage's lock is held", app.ServerLog.ToString(), StringComparison.Ordinal);
    }
}
