using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>What only our storage promises: fetch tokens and invisibility, one-transaction commits, schema and file layout.</summary>
public sealed class SqliteStorageTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly SqliteStorage _storage;

    public SqliteStorageTests()
    {
        _storage = _folder.OpenStorage();
    }

    public void Dispose()
    {
        _storage.Dispose();
        _folder.Dispose();
    }

    private JobStorageConnection Connect() => (JobStorageConnection)_storage.GetConnection();

    private static string Enqueue(IStorageConnection connection, string queue)
    {
        var id = connection.CreateExpiredJob(Job.FromExpression(() => TestJobs.Noop()), new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
        using var transaction = connection.CreateWriteTransaction();
        transaction.SetJobState(id, new EnqueuedState(queue));
        transaction.AddToQueue(queue, id);
        transaction.Commit();
        return id;
    }

    private static IFetchedJob? TryFetch(IStorageConnection connection, string queue, int milliseconds = 300)
    {
        using var soon = new CancellationTokenSource(milliseconds);
        try
        {
            return connection.FetchNextJob([queue], soon.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    [Fact]
    public void AJobRemovedFromItsQueueInsideTheStateTransactionIsAcknowledged()
    {
        using var connection = Connect();
        var id = Enqueue(connection, "contract");
        using var fetched = connection.FetchNextJob(["contract"], TestContext.Current.CancellationToken);
        Assert.True(_storage.HasFeature(JobStorageFeatures.Transaction.RemoveFromQueue(fetched.GetType())));
        using (var transaction = (JobStorageTransaction)connection.CreateWriteTransaction())
        {
            transaction.SetJobState(id, new SucceededState(null, 1, 1));
            transaction.RemoveFromQueue(fetched);
            transaction.Commit();
        }
        fetched.Dispose();
        using var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        Assert.ThrowsAny<OperationCanceledException>(() => connection.FetchNextJob(["contract"], soon.Token));
        Assert.Equal(SucceededState.StateName, connection.GetStateData(id)!.Name);
    }

    [Fact]
    public void AFetchedJobDisposedWithoutAnAnswerGoesBackToTheQueueAtOnce()
    {
        using var connection = Connect();
        var id = Enqueue(connection, "q");
        connection.FetchNextJob(["q"], TestContext.Current.CancellationToken).Dispose();
        using var again = TryFetch(connection, "q");
        Assert.Equal(id, again?.JobId);
        again!.RemoveFromQueue();
    }

    [Fact]
    public void AFrozenWorkersJobComesBackAfterTheTimeoutAndItsLateAnswerTouchesNothing()
    {
        using var frozen = _folder.OpenStorage(o => o.InvisibilityTimeout = TimeSpan.FromSeconds(2));
        using var live = _folder.OpenStorage(o => o.InvisibilityTimeout = TimeSpan.FromSeconds(2));
        using var frozenConnection = frozen.GetConnection();
        using var liveConnection = live.GetConnection();
        var id = Enqueue(frozenConnection, "q");
        var first = frozenConnection.FetchNextJob(["q"], TestContext.Current.CancellationToken);

        // While its holder renews, nobody else sees the job, however long it runs.
        Assert.Null(TryFetch(liveConnection, "q", 5000));

        frozen.Leases.Pause();
        var second = liveConnection.FetchNextJob(["q"], TestContext.Current.CancellationToken);
        Assert.Equal(id, second.JobId);

        // The frozen worker wakes up: its acknowledgement and requeue name a token that is no longer the row's.
        first.RemoveFromQueue();
        first.Requeue();
        first.Dispose();
        Assert.Null(TryFetch(frozenConnection, "q"));
        Assert.Equal(1, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM job_queue"));

        second.RemoveFromQueue();
        second.Dispose();
        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM job_queue"));
    }

    [Fact]
    public void AFailureOnTheLastCommandOfATransactionAppliesNothing()
    {
        Db.Execute(_folder.Db, "CREATE TRIGGER planned_failure BEFORE INSERT ON list_entry WHEN NEW.value = 'boom' BEGIN SELECT RAISE(ABORT, 'planned failure'); END");
        using var connection = Connect();
        var existing = connection.CreateExpiredJob(Job.FromExpression(() => TestJobs.Noop()), new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
        string created;
        using (var transaction = (JobStorageTransaction)connection.CreateWriteTransaction())
        {
            created = transaction.CreateJob(Job.FromExpression(() => TestJobs.Noop()), new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
            transaction.SetJobState(existing, new EnqueuedState());
            transaction.AddToQueue("default", existing);
            transaction.SetJobParameter(existing, "p", "v");
            transaction.IncrementCounter("atomic");
            transaction.AddToSet("atomic", "member");
            transaction.SetRangeInHash("atomic", [new("f", "v")]);
            transaction.InsertToList("atomic", "fine");
            transaction.InsertToList("atomic", "boom");
            var error = Assert.Throws<SqliteException>(transaction.Commit);
            Assert.Contains("planned failure", error.Message, StringComparison.Ordinal);
        }

        Assert.Null(connection.GetJobData(created));
        Assert.Null(connection.GetStateData(existing));
        Assert.Null(connection.GetJobParameter(existing, "p"));
        Assert.Null(TryFetch(connection, "default"));
        Assert.Equal(0, connection.GetCounter("atomic"));
        Assert.Empty(connection.GetAllItemsFromSet("atomic"));
        Assert.Null(connection.GetAllEntriesFromHash("atomic"));
        Assert.Equal(0, connection.GetListCount("atomic"));
    }

    [Fact]
    public async Task ATransactionThatStaysBusyIsRetriedWholeAndAppliedOnce()
    {
        using var storage = _folder.OpenStorage(o =>
        {
            o.BusyTimeout = TimeSpan.FromMilliseconds(200);
            o.TransactionRetryAttempts = 20;
        });
        using var blocker = new SqliteConnection($"Data Source={_folder.Db};Pooling=False");
        blocker.Open();
        using var held = blocker.BeginTransaction(deferred: false);
        using var connection = (JobStorageConnection)storage.GetConnection();
        var before = HangfireLog.All.Count(IsRetry);
        var commit = Task.Run(() =>
        {
            using var transaction = connection.CreateWriteTransaction();
            transaction.IncrementCounter("retried");
            transaction.InsertToList("retried", "once");
            transaction.Commit();
        }, TestContext.Current.CancellationToken);

        // Held until the commit has given up at least once (Microsoft.Data.Sqlite rounds the busy timeout up to whole
        // seconds for its own retries), so the whole transaction has really been run again.
        await Eventually.TrueAsync(() => HangfireLog.All.Count(IsRetry) > before, TimeSpan.FromSeconds(60), () => "the commit never retried");
        Assert.False(commit.IsCompleted);
        held.Rollback();
        await commit;
        Assert.Equal(1, connection.GetCounter("retried"));
        Assert.Equal(["once"], connection.GetAllItemsFromList("retried"));

        static bool IsRetry(string line) => line.Contains("retrying the whole transaction", StringComparison.Ordinal);
    }

    [Fact]
    public void TheFileIsInWalModeWithAVersionedSchemaThatMigratesOnce()
    {
        Assert.Equal("wal", Db.Text(_folder.Db, "PRAGMA journal_mode"));
        Assert.Equal(SqliteSchema.LatestVersion, Db.Scalar(_folder.Db, "SELECT version FROM schema_version"));
        using (var again = _folder.OpenStorage())
        {
            Assert.Equal(1, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM schema_version"));
        }

        Db.Execute(_folder.Db, "UPDATE schema_version SET version = 999");
        var error = Assert.Throws<NotSupportedException>(() => _folder.OpenStorage().Dispose());
        Assert.Contains("999", error.Message, StringComparison.Ordinal);
        using var memory = new SqliteConnection("Data Source=:memory:");
        memory.Open();
        Assert.True(SqliteSchema.SqliteVersion(memory) >= SqliteSchema.MinimumSqliteVersion);
    }

    [Fact]
    public void JobIdsAreNeverReusedAndTimesAreUtcIntegers()
    {
        using var connection = Connect();
        var first = long.Parse(Enqueue(connection, "q"), System.Globalization.CultureInfo.InvariantCulture);
        Db.Execute(_folder.Db, "DELETE FROM job_queue; DELETE FROM job_state; DELETE FROM job");
        var second = long.Parse(Enqueue(connection, "q"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(second > first, $"{second} after {first}");
        Assert.Equal("integer", Db.Text(_folder.Db, "SELECT typeof(created_at) FROM job"));
        Assert.Equal("integer", Db.Text(_folder.Db, "SELECT typeof(expire_at) FROM job"));
        var createdAt = DateTimeOffset.FromUnixTimeMilliseconds(Db.Scalar(_folder.Db, "SELECT created_at FROM job")).UtcDateTime;
        Assert.InRange(createdAt, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));
    }

    [Fact]
    public void IncrementsAddToOneRowPerKeyWithTheLaterExpiryAndAKeyBackAtZeroKeepsNoRow()
    {
        using var storage = _folder.OpenStorage();
        using var connection = (JobStorageConnection)storage.GetConnection();
        using (var transaction = connection.CreateWriteTransaction())
        {
            for (var i = 0; i < 250; i++)
            {
                transaction.IncrementCounter("stats:succeeded");
                transaction.IncrementCounter("stats:succeeded:today", TimeSpan.FromHours(1));
            }

            transaction.DecrementCounter("stats:succeeded");
            transaction.Commit();
        }

        // No row per increment: one per key, nothing left for the aggregator.
        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM counter"));
        Assert.Equal(249, Db.Scalar(_folder.Db, "SELECT value FROM aggregated_counter WHERE key = 'stats:succeeded' AND expire_at IS NULL"));
        Assert.Equal(250, connection.GetCounter("stats:succeeded:today"));
        var firstExpiry = Db.Scalar(_folder.Db, "SELECT expire_at FROM aggregated_counter WHERE key = 'stats:succeeded:today'");

        // A later, longer expiry wins; a shorter one or none leaves it.
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.IncrementCounter("stats:succeeded:today", TimeSpan.FromHours(2));
            transaction.Commit();
        }

        var longer = Db.Scalar(_folder.Db, "SELECT expire_at FROM aggregated_counter WHERE key = 'stats:succeeded:today'");
        Assert.True(longer >= firstExpiry + (long)TimeSpan.FromMinutes(59).TotalMilliseconds, $"{longer} after {firstExpiry}");
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.IncrementCounter("stats:succeeded:today", TimeSpan.FromMinutes(1));
            transaction.IncrementCounter("stats:succeeded:today");
            transaction.Commit();
        }

        Assert.Equal(longer, Db.Scalar(_folder.Db, "SELECT expire_at FROM aggregated_counter WHERE key = 'stats:succeeded:today'"));
        Assert.Equal(253, connection.GetCounter("stats:succeeded:today"));

        // Back to zero across two transactions: the row goes, and the count reads zero.
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.IncrementCounter("retries");
            transaction.Commit();
        }

        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.DecrementCounter("retries");
            transaction.IncrementCounter("stats:succeeded");
            transaction.Commit();
        }

        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM aggregated_counter WHERE key = 'retries'"));
        Assert.Equal(0, connection.GetCounter("retries"));
        Assert.Equal(250, connection.GetCounter("stats:succeeded"));
    }

    [Fact]
    public void AggregatingCountersFoldsAnEarlierVersionsRowsAndKeepsTheirSums()
    {
        using var storage = _folder.OpenStorage(o => o.ExpirationBatchSize = 100);
        using var connection = (JobStorageConnection)storage.GetConnection();
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.IncrementCounter("stats:succeeded");
            transaction.Commit();
        }

        // Rows as a version before this one wrote them, one per increment, left in the file it upgraded.
        var expireAt = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        Db.Execute(_folder.Db, $"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)
            INSERT INTO counter (key, value, expire_at)
            SELECT 'stats:succeeded', 1, NULL FROM n UNION ALL SELECT 'stats:succeeded:today', 1, {expireAt} FROM n;
            INSERT INTO counter (key, value, expire_at) VALUES ('stats:succeeded', -1, NULL)
            """);
        Assert.Equal(250, connection.GetCounter("stats:succeeded"));

        Assert.Equal(501, new CountersAggregator(storage).Aggregate(TestContext.Current.CancellationToken));
        Assert.Equal(250, connection.GetCounter("stats:succeeded"));
        Assert.Equal(250, connection.GetCounter("stats:succeeded:today"));
        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM counter"));
        Assert.Equal(expireAt, Db.Scalar(_folder.Db, "SELECT expire_at FROM aggregated_counter WHERE key = 'stats:succeeded:today'"));

        // Later increments add to the folded row.
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.IncrementCounter("stats:succeeded");
            transaction.Commit();
        }

        Assert.Equal(0, new CountersAggregator(storage).Aggregate(TestContext.Current.CancellationToken));
        Assert.Equal(251, connection.GetCounter("stats:succeeded"));
    }

    [Fact]
    public void AFileVersionOneLeftIsUpgradedWithItsRowsAndIdsAndItsExpiryStillWorks()
    {
        var file = _folder.File("v1.db");
        var later = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();

        // The file as version 1 left it: job 1 in Processing with its queue row and its state lock held by another process,
        // job 7 expired while still enqueued (it holds the newest state id), counters folded and not yet folded.
        Db.Execute(file, $$"""
            PRAGMA journal_mode = WAL;
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version (version) VALUES (1);
            {{SqliteSchema.Migration(1)}}
            INSERT INTO job (id, state_id, state_name, invocation_data, created_at, expire_at) VALUES (1, 2, 'Processing', '{}', 1, NULL), (7, 3, 'Enqueued', '{}', 1, 1);
            INSERT INTO job_state (id, job_id, name, reason, created_at, data) VALUES
                (1, 1, 'Enqueued', NULL, 1, '{"Queue":"default"}'), (2, 1, 'Processing', 'taken', 2, '{"ServerId":"old"}'), (3, 7, 'Enqueued', NULL, 1, '{}');
            INSERT INTO job_queue (job_id, queue) VALUES (1, 'default'), (7, 'default');
            INSERT INTO distributed_lock (resource, owner, expire_at) VALUES ('job:1:state-lock', 'another process', {{later}});
            INSERT INTO aggregated_counter (key, value, expire_at) VALUES ('stats:succeeded', 41, NULL), ('stats:succeeded:old', 5, 1);
            INSERT INTO counter (key, value, expire_at) VALUES ('stats:succeeded', 1, NULL);
            """);

        using var storage = new SqliteStorage(new SqliteStorageOptions { Path = file, QueuePollInterval = TimeSpan.FromMilliseconds(100) });
        using var connection = (JobStorageConnection)storage.GetConnection();
        Assert.Equal(SqliteSchema.LatestVersion, Db.Scalar(file, "SELECT version FROM schema_version"));
        Assert.Contains("WITHOUT ROWID", Db.Text(file, "SELECT sql FROM sqlite_master WHERE name = 'distributed_lock'"), StringComparison.Ordinal);
        Assert.Contains("WITHOUT ROWID", Db.Text(file, "SELECT sql FROM sqlite_master WHERE name = 'aggregated_counter'"), StringComparison.Ordinal);
        Assert.DoesNotContain("AUTOINCREMENT", Db.Text(file, "SELECT sql FROM sqlite_master WHERE name = 'job_state'"), StringComparison.Ordinal);
        Assert.Equal(0, Db.Scalar(file, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ix_job_queue_job_id'"));
        Assert.Equal(0, Db.Scalar(file, "SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'job_state'"));

        // Every row kept, and found as before.
        var state = connection.GetStateData("1");
        Assert.Equal(("Processing", "taken", "old"), (state.Name, state.Reason, state.Data["ServerId"]));
        Assert.Equal(42, connection.GetCounter("stats:succeeded"));
        Assert.Throws<DistributedLockTimeoutException>(() => connection.AcquireDistributedLock("job:1:state-lock", TimeSpan.Zero).Dispose());

        // Expiry: job 7 goes with its states and its queue row (found without the index on job_id), and so does the expired
        // counter (found by its key: the table has no rowid now).
        Assert.Equal(2, new ExpirationManager(storage).RemoveExpired(TestContext.Current.CancellationToken));
        Assert.Equal(0, Db.Scalar(file, "SELECT COUNT(*) FROM job_queue WHERE job_id = 7") + Db.Scalar(file, "SELECT COUNT(*) FROM job_state WHERE job_id = 7"));
        Assert.Equal(0, Db.Scalar(file, "SELECT COUNT(*) FROM aggregated_counter WHERE key = 'stats:succeeded:old'"));

        // Job ids still never come back; a state id may (job 7's went with it), and the new job's states are its own.
        var id = connection.CreateExpiredJob(Job.FromExpression(() => TestJobs.Noop()), new Dictionary<string, string>(), DateTime.UtcNow, TimeSpan.FromHours(1));
        Assert.Equal("8", id);
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.SetJobState(id, new EnqueuedState("default"));
            transaction.AddToQueue("default", id);
            transaction.Commit();
        }

        Assert.Equal(3, Db.Scalar(file, "SELECT state_id FROM job WHERE id = 8"));
        Assert.Equal("Enqueued", connection.GetStateData(id).Name);
        Assert.Single(storage.GetMonitoringApi().JobDetails(id).History);
        Assert.Equal("Processing", connection.GetStateData("1").Name);

        // The queue is in order: job 1's row first, then the new one.
        using var first = connection.FetchNextJob(["default"], TestContext.Current.CancellationToken);
        using var second = connection.FetchNextJob(["default"], TestContext.Current.CancellationToken);
        Assert.Equal(("1", "8"), (first.JobId, second.JobId));
    }

    [Fact]
    public void OnlyImplementedFeaturesAreAdvertised()
    {
        Assert.True(_storage.HasFeature(JobStorageFeatures.ProcessesInsteadOfComponents));
        Assert.True(_storage.HasFeature(JobStorageFeatures.Monitoring.DeletedStateGraphs));
        Assert.False(_storage.HasFeature(JobStorageFeatures.Transaction.RemoveFromQueue(typeof(object))));
        Assert.Empty(_storage.GetServerRequiredProcesses());
        Assert.Equal(2, _storage.GetStorageWideProcesses().Count());
    }
}
