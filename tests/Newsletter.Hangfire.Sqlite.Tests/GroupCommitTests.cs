using System.Collections.Concurrent;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>
/// Writers that queue while another one writes are committed together, in one transaction run by one of them. What that
/// must not cost: a writer told it is done before its commit, a body that fails taking the others' writes with it, or a
/// failed body's writes kept.
/// </summary>
public sealed class GroupCommitTests : IDisposable
{
    private const string Insert = "INSERT INTO group_test (k) VALUES ($k)";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task WritersQueuedBehindAStalledOneAreRunTogetherByOneOfThemAndNoneReturnsBeforeItsCommit()
    {
        using var storage = OpenWithTable();
        using var stall = new ManualResetEventSlim();
        var first = StartStalledWriter(storage, stall);

        // The first writer leads and stalls inside its transaction; five more queue behind it.
        var others = Enumerable.Range(0, 5).Select(i => Task.Run(() => storage.Database.Write(c =>
        {
            c.Execute(Insert, ("$k", $"w{i}"));
            return Environment.CurrentManagedThreadId;
        }))).ToArray();
        await Eventually.TrueAsync(() => storage.Database.PendingWrites == 5, TimeSpan.FromSeconds(30), () => $"{storage.Database.PendingWrites} writers queued");

        // Stalled for a while: nobody queued has returned, and nothing is in the file yet.
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.DoesNotContain(others, t => t.IsCompleted);
        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM group_test"));

        stall.Set();
        Assert.Equal(1, await first);
        var threads = await Task.WhenAll(others);

        // One of the five ran all five bodies, on its own thread.
        Assert.Single(threads.Distinct());
        Assert.Equal(6, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM group_test"));
    }

    [Fact]
    public async Task ABodyThatFailsInAGroupFailsAloneAndTheOthersAreWrittenOnce()
    {
        using var storage = OpenWithTable();
        using var stall = new ManualResetEventSlim();
        var first = StartStalledWriter(storage, stall);

        // Queued one after the other, so the group runs them in this order.
        var runs = new ConcurrentDictionary<string, int>();
        var writers = new List<Task<string>>();
        foreach (var k in new[] { "a", "b", "refused", "c", "d" })
        {
            writers.Add(Task.Run(() => storage.Database.Write(c =>
            {
                runs.AddOrUpdate(k, 1, (_, n) => n + 1);
                c.Execute(Insert, ("$k", k));
                return k == "refused" ? throw new InvalidOperationException("refused by its body") : k;
            })));
            await Eventually.TrueAsync(() => storage.Database.PendingWrites == writers.Count, TimeSpan.FromSeconds(30), () => $"{storage.Database.PendingWrites} writers queued");
        }

        stall.Set();
        await first;

        // The failing writer gets its own error, and its row is not written.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => writers[2]);
        Assert.Equal("refused by its body", error.Message);
        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM group_test WHERE k = 'refused'"));

        // The others are written once each. The group stopped at the failure and was rolled back as a whole, then every
        // body ran alone: those before the failure ran twice, and a row the group had kept would have made their second
        // insert fail on the key.
        Assert.Equal(["a", "b", "c", "d"], await Task.WhenAll(writers.Where((_, i) => i != 2)));
        Assert.Equal(5, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM group_test"));
        Assert.Equal([("a", 2), ("b", 2), ("c", 1), ("d", 1), ("refused", 2)], runs.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => (r.Key, r.Value)));
    }

    /// <summary>A writer that leads and then stalls inside its transaction until <paramref name="stall"/> is set.</summary>
    private static Task<int> StartStalledWriter(SqliteStorage storage, ManualResetEventSlim stall)
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Task.Run(() => storage.Database.Write(c =>
        {
            entered.TrySetResult();
            stall.Wait();
            return c.Execute(Insert, ("$k", "first"));
        }));
        entered.Task.Wait(TestContext.Current.CancellationToken);
        return first;
    }

    private SqliteStorage OpenWithTable()
    {
        var storage = _folder.OpenStorage();
        Db.Execute(_folder.Db, "CREATE TABLE group_test (k TEXT PRIMARY KEY)");
        return storage;
    }
}
