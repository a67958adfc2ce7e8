using Hangfire;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>Two server processes with ten workers each share one file, as two app instances on one host would.</summary>
[Collection(HeavyTests.Name)]
public sealed class TwoServerTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task TwoThousandJobsEachRunExactlyOnceAndAllSucceed()
    {
        const int jobs = 2000;
        var ledger = _folder.File("ledger");
        using var storage = _folder.OpenStorage();
        using var first = HostProcess.Start("server", _folder.Db, "--name", "first", "--workers", "10");
        using var second = HostProcess.Start("server", _folder.Db, "--name", "second", "--workers", "10");
        await first.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
        await second.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));

        // Enqueued while both servers already work, so the client's writes race the workers' too.
        var client = new BackgroundJobClient(storage);
        for (var i = 0; i < jobs; i++)
        {
            var key = $"job{i}";
            client.Enqueue(() => TestJobs.Record(ledger, key));
        }

        var monitor = storage.GetMonitoringApi();
        await Eventually.TrueAsync(
            () => monitor.SucceededListCount() == jobs,
            TimeSpan.FromMinutes(5),
            () => $"{monitor.SucceededListCount()} succeeded, {monitor.FailedCount()} failed, {monitor.EnqueuedCount("default")} enqueued\n{first.Output}\n{second.Output}");
        await first.StopAsync(TimeSpan.FromSeconds(60));
        await second.StopAsync(TimeSpan.FromSeconds(60));

        var runs = Ledger.Read(ledger).Where(l => l.Event == "run").ToList();
        var twice = runs.GroupBy(l => l.Key).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(twice.Count == 0, $"ran more than once: {string.Join(", ", twice.Take(20))}");
        Assert.Equal(jobs, runs.Select(l => l.Key).Distinct().Count());
        Assert.Equal(2, runs.Select(l => l.ProcessId).Distinct().Count());
        Assert.Equal(jobs, monitor.GetStatistics().Succeeded);
        Assert.Equal(0, monitor.GetStatistics().Failed);
        Assert.Equal(0, monitor.GetStatistics().Enqueued + monitor.GetStatistics().Processing + monitor.GetStatistics().Scheduled);

        var logs = string.Join('\n', [first.Output, second.Output, .. HangfireLog.All]);
        Assert.DoesNotContain("database is locked", logs, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("may run twice", logs, StringComparison.Ordinal);
        Assert.Contains("stopped", first.Output, StringComparison.Ordinal);
    }
}
