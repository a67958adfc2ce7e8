using System.Collections.Concurrent;
using Hangfire.Common;
using Hangfire.Storage;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>The fetch is one UPDATE ... RETURNING: however many workers race for a queue, each job goes to exactly one.</summary>
[Collection(HeavyTests.Name)]
public sealed class FetchRaceTests : IDisposable
{
    private const int Jobs = 5000;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void SixteenThreadsDrainFiveThousandJobsAndEachIsFetchedExactlyOnce()
    {
        using var storage = _folder.OpenStorage();
        var queued = EnqueueMany(storage);
        var fetched = new ConcurrentBag<string>();
        using var go = new ManualResetEventSlim();
        var threads = Enumerable.Range(0, 16).Select(_ => new Thread(() =>
        {
            using var connection = storage.GetConnection();
            go.Wait();
            while (true)
            {
                // The queue is full before "go", so a whole second with nothing to fetch means it is drained.
                using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                IFetchedJob job;
                try
                {
                    job = connection.FetchNextJob(["default"], idle.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                fetched.Add(job.JobId);
                job.RemoveFromQueue();
                job.Dispose();
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        go.Set();
        threads.ForEach(t => t.Join());

        AssertEachOnce(queued, fetched.ToList());
    }

    [Fact]
    public async Task TwoProcessesOnOneWalFileFetchEachJobExactlyOnce()
    {
        List<string> queued;
        using (var storage = _folder.OpenStorage())
        {
            queued = EnqueueMany(storage);
        }

        using var first = HostProcess.Start("fetch", _folder.Db, "--threads", "8", "--out", _folder.File("first.txt"));
        using var second = HostProcess.Start("fetch", _folder.Db, "--threads", "8", "--out", _folder.File("second.txt"));
        await first.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
        await second.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
        first.Send("go");
        second.Send("go");
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromMinutes(3)));
        Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromMinutes(3)));

        var byFirst = File.ReadAllLines(_folder.File("first.txt"));
        var bySecond = File.ReadAllLines(_folder.File("second.txt"));
        AssertEachOnce(queued, [.. byFirst, .. bySecond]);
        Assert.NotEmpty(byFirst);
        Assert.NotEmpty(bySecond);
        Assert.DoesNotContain("database is locked", first.Output + second.Output, StringComparison.OrdinalIgnoreCase);
    }

    private static List<string> EnqueueMany(SqliteStorage storage)
    {
        using var connection = storage.GetConnection();
        var job = Job.FromExpression(() => TestJobs.Noop());
        var ids = Enumerable.Range(0, Jobs)
            .Select(_ => connection.CreateExpiredJob(job, new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1)))
            .ToList();
        using var transaction = connection.CreateWriteTransaction();
        foreach (var id in ids)
        {
            transaction.AddToQueue("default", id);
        }

        transaction.Commit();
        return ids;
    }

    private static void AssertEachOnce(List<string> queued, List<string> fetched)
    {
        var twice = fetched.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(twice.Count == 0, $"fetched more than once: {string.Join(", ", twice.Take(20))}");
        Assert.Equal(queued.Order().ToList(), fetched.Order().ToList());
    }
}

/// <summary>Tests that load both cores run one at a time, so none of them starves another's lease renewals.</summary>
[CollectionDefinition(Name)]
public sealed class HeavyTests
{
    public const string Name = "Heavy: many jobs or processes";
}
