using Hangfire;
using Hangfire.States;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>A server that dies mid-job loses nothing; a server that lives long never loses its job to another.</summary>
[Collection(HeavyTests.Name)]
public sealed class CrashTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task AJobOfAServerKilledMidJobRunsAgainElsewhereAfterTheInvisibilityTimeoutAndSucceeds()
    {
        var ledger = _folder.File("ledger");
        using var storage = _folder.OpenStorage();
        using var doomed = HostProcess.Start("server", _folder.Db, "--name", "doomed", "--workers", "1", "--invisibility", "3", "--lock-lifetime", "3");
        await doomed.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
        var id = new BackgroundJobClient(storage).Enqueue(() => TestJobs.HangOnFirstRun(ledger, "crash", 600_000));
        await Eventually.TrueAsync(() => Ledger.Read(ledger).Any(l => l.Event == "start"), TimeSpan.FromSeconds(60), () => doomed.Output);
        doomed.Kill();
        Assert.Equal(ProcessingState.StateName, State(storage, id));

        using var rescuer = HostProcess.Start("server", _folder.Db, "--name", "rescuer", "--workers", "2", "--invisibility", "3", "--lock-lifetime", "3");
        await Eventually.TrueAsync(() => State(storage, id) == SucceededState.StateName, TimeSpan.FromSeconds(90), () => $"{State(storage, id)}\n{rescuer.Output}");

        var lines = Ledger.Read(ledger);
        Assert.Equal(new[] { doomed.Id, rescuer.Id }.Order(), lines.Where(l => l.Event == "start").Select(l => l.ProcessId).Order());
        Assert.Equal(rescuer.Id, Assert.Single(lines, l => l.Event == "end").ProcessId);
    }

    [Fact]
    public async Task ALiveJobThatRunsLongerThanTheInvisibilityTimeoutIsNeverFetchedAgain()
    {
        var ledger = _folder.File("ledger");
        using var storage = _folder.OpenStorage();
        using var first = HostProcess.Start("server", _folder.Db, "--name", "first", "--workers", "4", "--invisibility", "3");
        using var second = HostProcess.Start("server", _folder.Db, "--name", "second", "--workers", "4", "--invisibility", "3");
        await first.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
        await second.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));

        // Three times the timeout: without the heartbeat, an idle worker of either server would take it again.
        var id = new BackgroundJobClient(storage).Enqueue(() => TestJobs.SleepAndRecord(ledger, "long", 9000));
        await Eventually.TrueAsync(() => State(storage, id) == SucceededState.StateName, TimeSpan.FromSeconds(90), () => $"{State(storage, id)}\n{first.Output}\n{second.Output}");

        var lines = Ledger.Read(ledger);
        Assert.Single(lines, l => l.Event == "start");
        Assert.Single(lines, l => l.Event == "end");
        Assert.DoesNotContain("may run twice", first.Output + second.Output, StringComparison.Ordinal);
    }

    private static string? State(SqliteStorage storage, string id)
    {
        using var connection = storage.GetConnection();
        return connection.GetStateData(id)?.Name;
    }
}
