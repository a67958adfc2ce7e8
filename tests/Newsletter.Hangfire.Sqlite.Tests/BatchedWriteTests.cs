using System.Collections.Concurrent;
using System.Globalization;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>
/// Writes that ride in another transaction (a job's insert with its first state, a released lock's delete with the next
/// write) are lost or doubled by no failure between them.
/// </summary>
public sealed class BatchedWriteTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static Job Noop() => Job.FromExpression(() => TestJobs.Noop());

    [Fact]
    public void AJobIsWrittenWithItsFirstStateAndAFailedFirstStateLeavesItCreatedWithoutOne()
    {
        using var storage = _folder.OpenStorage();
        Db.Execute(_folder.Db, "CREATE TRIGGER planned_failure BEFORE INSERT ON list_entry WHEN NEW.value = 'boom' BEGIN SELECT RAISE(ABORT, 'planned failure'); END");
        string failed;
        using (var connection = (JobStorageConnection)storage.GetConnection())
        {
            var id = connection.CreateExpiredJob(Noop(), new Dictionary<string, string> { ["p"] = "v" }, DateTime.UtcNow, TimeSpan.FromHours(1));
            using (var transaction = connection.CreateWriteTransaction())
            {
                transaction.SetJobState(id, new EnqueuedState());
                transaction.PersistJob(id);
                transaction.AddToQueue("default", id);
                transaction.Commit();
            }

            Assert.Equal(EnqueuedState.StateName, Db.Text(_folder.Db, $"SELECT state_name FROM job WHERE id = {id}"));
            Assert.Equal("v", Db.Text(_folder.Db, $"SELECT value FROM job_parameter WHERE job_id = {id} AND name = 'p'"));
            Assert.Equal(0, Db.Scalar(_folder.Db, $"SELECT COUNT(*) FROM job WHERE id = {id} AND expire_at IS NOT NULL"));

            // The first state's transaction fails after the job's insert in it: both roll back, and the job is still
            // written, once, as Hangfire expects of CreateExpiredJob: expiring, with no state.
            failed = connection.CreateExpiredJob(Noop(), new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
            using (var transaction = connection.CreateWriteTransaction())
            {
                transaction.SetJobState(failed, new EnqueuedState());
                transaction.InsertToList("x", "boom");
                Assert.Throws<SqliteException>(transaction.Commit);
            }
        }

        Assert.Equal(1, Db.Scalar(_folder.Db, $"SELECT COUNT(*) FROM job WHERE id = {failed} AND state_id IS NULL AND expire_at IS NOT NULL"));
        Assert.Equal(0, Db.Scalar(_folder.Db, $"SELECT COUNT(*) FROM job_state WHERE job_id = {failed}"));
    }

    [Fact]
    public void TwoStoragesOnOneFileNeverHandOutTheSameJobId()
    {
        using var first = _folder.OpenStorage();
        using var second = _folder.OpenStorage();
        var ids = new ConcurrentBag<string>();
        Parallel.For(0, 600, new ParallelOptions { MaxDegreeOfParallelism = 6 }, i =>
        {
            using var connection = (i % 2 == 0 ? first : second).GetConnection();
            var id = connection.CreateExpiredJob(Noop(), new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
            using var transaction = connection.CreateWriteTransaction();
            transaction.SetJobState(id, new EnqueuedState());
            transaction.Commit();
            ids.Add(id);
        });

        Assert.Equal(600, ids.Distinct().Count());
        Assert.Equal(600, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM job WHERE state_name = 'Enqueued'"));
        Assert.True(Db.Scalar(_folder.Db, "SELECT seq FROM sqlite_sequence WHERE name = 'job'") >= ids.Max(id => long.Parse(id, CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task AReleasedLockIsAdoptedInProcessAndFreedForOtherProcessesWithoutAWriteOfItsOwn()
    {
        using var storage = _folder.OpenStorage();
        using var other = _folder.OpenStorage();
        using var connection = storage.GetConnection();
        using var otherConnection = other.GetConnection();

        // The timer is paused so that a slow machine cannot stretch the gap past the grace.
        storage.Database.Parked.Pause();
        connection.AcquireDistributedLock("adopted", TimeSpan.FromSeconds(5)).Dispose();
        var owner = Db.Text(_folder.Db, "SELECT owner FROM distributed_lock WHERE resource = 'adopted'");

        // Taken again in this process: the same row, not a new one.
        using (var again = storage.GetConnection())
        using (again.AcquireDistributedLock("adopted", TimeSpan.FromSeconds(5)))
        {
            Assert.Equal(owner, Db.Text(_folder.Db, "SELECT owner FROM distributed_lock WHERE resource = 'adopted'"));
        }

        storage.Database.Parked.Resume();

        // Another process (storage) gets it once the grace is over, with nobody writing meanwhile.
        using (otherConnection.AcquireDistributedLock("adopted", TimeSpan.FromSeconds(10)))
        {
            Assert.NotEqual(owner, Db.Text(_folder.Db, "SELECT owner FROM distributed_lock WHERE resource = 'adopted'"));
        }

        other.Dispose();
        await Eventually.TrueAsync(
            () => Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM distributed_lock") == 0,
            TimeSpan.FromSeconds(10),
            () => "a disposed storage left its released lock rows");
    }

    [Fact]
    public async Task AReleaseWhoseTransactionRollsBackIsDeletedLaterAndNeverAdopted()
    {
        using var storage = _folder.OpenStorage();
        Db.Execute(_folder.Db, "CREATE TRIGGER planned_failure BEFORE INSERT ON list_entry WHEN NEW.value = 'boom' BEGIN SELECT RAISE(ABORT, 'planned failure'); END");
        using var connection = storage.GetConnection();
        storage.Database.Parked.Pause();
        connection.AcquireDistributedLock("rolled-back", TimeSpan.FromSeconds(5)).Dispose();
        var owner = Db.Text(_folder.Db, "SELECT owner FROM distributed_lock WHERE resource = 'rolled-back'");
        await Task.Delay(ParkedLocks.Grace * 2, TestContext.Current.CancellationToken);

        // The next write carries the delete, and fails: the delete rolls back with it.
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.InsertToList("x", "boom");
            Assert.Throws<SqliteException>(transaction.Commit);
        }

        Assert.Equal(owner, Db.Text(_folder.Db, "SELECT owner FROM distributed_lock WHERE resource = 'rolled-back'"));

        // Not adopted (that commit might have deleted the row after all); the next write deletes it and a new owner takes it.
        storage.Database.Parked.Resume();
        using (connection.AcquireDistributedLock("rolled-back", TimeSpan.FromSeconds(10)))
        {
            Assert.NotEqual(owner, Db.Text(_folder.Db, "SELECT owner FROM distributed_lock WHERE resource = 'rolled-back'"));
        }
    }

    [Fact]
    public void AJobRunLeavesNoLockRowAndItsStateLockIsTakenWithTheClaim()
    {
        using var storage = _folder.OpenStorage();
        using var connection = (JobStorageConnection)storage.GetConnection();
        var id = connection.CreateExpiredJob(Noop(), new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.SetJobState(id, new EnqueuedState());
            transaction.AddToQueue("default", id);
            transaction.Commit();
        }

        storage.Database.Parked.Pause();
        using var fetched = connection.FetchNextJob(["default"], TestContext.Current.CancellationToken);
        var owner = Db.Text(_folder.Db, $"SELECT owner FROM distributed_lock WHERE resource = 'job:{id}:state-lock'");
        using (connection.AcquireDistributedLock($"job:{id}:state-lock", TimeSpan.FromSeconds(5)))
        {
            Assert.Equal(owner, Db.Text(_folder.Db, $"SELECT owner FROM distributed_lock WHERE resource = 'job:{id}:state-lock'"));
        }

        fetched.RemoveFromQueue();
        storage.Database.Parked.Resume();
        storage.Dispose();
        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM distributed_lock"));
    }
}
