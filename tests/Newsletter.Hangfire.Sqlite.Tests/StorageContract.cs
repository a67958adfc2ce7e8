using Hangfire;
using Hangfire.Common;
using Hangfire.InMemory;
using Hangfire.Server;
using Hangfire.States;
using Hangfire.Storage;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>Hangfire.InMemory is the reference: a contract test that fails only on ours is our bug.</summary>
public sealed class InMemoryStorageContractTests() : StorageContract(new InMemoryStorage());

/// <summary>The same contract on our storage, each test on its own file.</summary>
public sealed class SqliteStorageContractTests : StorageContract
{
    private readonly TempFolder _folder;

    public SqliteStorageContractTests()
        : this(new TempFolder())
    {
    }

    private SqliteStorageContractTests(TempFolder folder)
        : base(folder.OpenStorage())
    {
        _folder = folder;
    }

    public override void Dispose()
    {
        base.Dispose();
        _folder.Dispose();
    }
}

/// <summary>
/// What Hangfire 1.8 expects of any JobStorage, written once against the abstract API: connections, transactions, the
/// extended API the Dashboard calls, distributed locks, fetching and the monitoring API.
/// </summary>
public abstract class StorageContract(JobStorage storage) : IDisposable
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    protected JobStorage Storage { get; } = storage;

    public virtual void Dispose()
    {
        (Storage as IDisposable)?.Dispose();
        GC.SuppressFinalize(this);
    }

    private JobStorageConnection Connect() => (JobStorageConnection)Storage.GetConnection();

    private static Job Noop() => Job.FromExpression(() => TestJobs.Noop());

    private string CreateJob(IDictionary<string, string>? parameters = null)
    {
        using var connection = Connect();
        return connection.CreateExpiredJob(Noop(), parameters ?? new Dictionary<string, string>(), DateTime.UtcNow, Hour);
    }

    private void Commit(Action<JobStorageTransaction> commands)
    {
        using var connection = Connect();
        using var transaction = (JobStorageTransaction)connection.CreateWriteTransaction();
        commands(transaction);
        transaction.Commit();
    }

    [Fact]
    public void ACreatedJobReadsBackWithItsParametersAndNoState()
    {
        var id = CreateJob(new Dictionary<string, string> { ["Culture"] = "en-GB", ["Empty"] = "" });
        using var connection = Connect();
        var data = connection.GetJobData(id)!;
        Assert.Equal(nameof(TestJobs.Noop), data.Job.Method.Name);
        Assert.Null(data.State);
        Assert.Equal("en-GB", data.ParametersSnapshot["Culture"]);
        Assert.InRange(data.CreatedAt, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));
        Assert.Equal("en-GB", connection.GetJobParameter(id, "Culture"));
        Assert.Null(connection.GetStateData(id));
    }

    [Fact]
    public void AnUnknownJobReadsAsNull()
    {
        using var connection = Connect();
        Assert.Null(connection.GetJobData("123456789"));
        Assert.Null(connection.GetStateData("123456789"));
        Assert.Null(connection.GetJobParameter("123456789", "Culture"));
    }

    [Fact]
    public void AJobParameterCanBeOverwritten()
    {
        var id = CreateJob();
        using var connection = Connect();
        connection.SetJobParameter(id, "RetryCount", "1");
        connection.SetJobParameter(id, "RetryCount", "2");
        Assert.Equal("2", connection.GetJobParameter(id, "RetryCount"));
        Assert.Equal("2", connection.GetJobData(id)!.ParametersSnapshot["RetryCount"]);
    }

    [Fact]
    public void SetJobStateMakesItTheCurrentStateAndAddJobStateOnlyAddsHistory()
    {
        var id = CreateJob();
        Commit(t =>
        {
            t.SetJobState(id, new ScheduledState(TimeSpan.FromMinutes(5)) { Reason = "later" });
            t.AddJobState(id, new FailedState(new InvalidOperationException("boom")));
        });
        using var connection = Connect();
        var state = connection.GetStateData(id)!;
        Assert.Equal(ScheduledState.StateName, state.Name);
        Assert.Equal("later", state.Reason);
        Assert.True(state.Data.ContainsKey("EnqueueAt"));
        Assert.Equal(ScheduledState.StateName, connection.GetJobData(id)!.State);
        var history = Storage.GetMonitoringApi().JobDetails(id).History;
        Assert.Equal([FailedState.StateName, ScheduledState.StateName], history.Select(h => h.StateName));
    }

    [Fact]
    public void ATransactionAppliesNothingUntilItCommits()
    {
        var id = CreateJob();
        using (var connection = Connect())
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.SetJobState(id, new EnqueuedState());
            transaction.IncrementCounter("contract:uncommitted");
            transaction.AddToSet("contract:uncommitted", "x");
            Assert.Null(connection.GetStateData(id));
            Assert.Equal(0, connection.GetCounter("contract:uncommitted"));
        }

        using var after = Connect();
        Assert.Null(after.GetStateData(id));
        Assert.Equal(0, after.GetCounter("contract:uncommitted"));
        Assert.Empty(after.GetAllItemsFromSet("contract:uncommitted"));
    }

    [Fact]
    public void AJobCreatedInATransactionExistsOnlyAfterCommit()
    {
        Assert.True(Storage.HasFeature(JobStorageFeatures.Transaction.CreateJob));
        using var connection = Connect();
        string id;
        using (var transaction = (JobStorageTransaction)connection.CreateWriteTransaction())
        {
            id = transaction.CreateJob(Noop(), new Dictionary<string, string> { ["a"] = "1" }, DateTime.UtcNow, Hour);
            transaction.SetJobParameter(id, "b", "2");
            transaction.SetJobState(id, new EnqueuedState("contract"));
            transaction.AddToQueue("contract", id);
            Assert.Null(connection.GetJobData(id));
            transaction.Commit();
        }

        var data = connection.GetJobData(id)!;
        Assert.Equal(EnqueuedState.StateName, data.State);
        Assert.Equal("1", data.ParametersSnapshot["a"]);
        Assert.Equal("2", data.ParametersSnapshot["b"]);
        using var fetched = connection.FetchNextJob(["contract"], TestContext.Current.CancellationToken);
        Assert.Equal(id, fetched.JobId);
        fetched.RemoveFromQueue();
    }

    [Fact]
    public void AQueuedJobIsFetchedOnceAndGoneAfterItIsRemoved()
    {
        var id = CreateJob();
        Commit(t => t.AddToQueue("contract", id));
        using var connection = Connect();
        using (var fetched = connection.FetchNextJob(["contract"], TestContext.Current.CancellationToken))
        {
            Assert.Equal(id, fetched.JobId);
            fetched.RemoveFromQueue();
        }

        using var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        Assert.ThrowsAny<OperationCanceledException>(() => connection.FetchNextJob(["contract"], soon.Token));
    }

    [Fact]
    public void ARequeuedJobIsFetchedAgain()
    {
        var id = CreateJob();
        Commit(t => t.AddToQueue("contract", id));
        using var connection = Connect();
        using (var fetched = connection.FetchNextJob(["contract"], TestContext.Current.CancellationToken))
        {
            fetched.Requeue();
        }

        using var again = connection.FetchNextJob(["contract"], TestContext.Current.CancellationToken);
        Assert.Equal(id, again.JobId);
        again.RemoveFromQueue();
    }

    [Fact]
    public void QueuesAreFetchedInTheOrderTheWorkerNamesThem()
    {
        var low = CreateJob();
        var high = CreateJob();
        Commit(t =>
        {
            t.AddToQueue("low", low);
            t.AddToQueue("high", high);
        });
        using var connection = Connect();
        using var first = connection.FetchNextJob(["high", "low"], TestContext.Current.CancellationToken);
        using var second = connection.FetchNextJob(["high", "low"], TestContext.Current.CancellationToken);
        Assert.Equal([high, low], [first.JobId, second.JobId]);
        first.RemoveFromQueue();
        second.RemoveFromQueue();
    }

    [Fact]
    public void FetchingFromEmptyQueuesEndsWithCancellation()
    {
        using var connection = Connect();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => connection.FetchNextJob(["empty"], cancelled.Token));
        Assert.Throws<ArgumentException>(() => connection.FetchNextJob([], CancellationToken.None));
    }

    [Fact]
    public void SetsKeepOneItemPerValueOrderedByScore()
    {
        Commit(t =>
        {
            t.AddToSet("contract:set", "c", 3);
            t.AddToSet("contract:set", "a", 1);
            t.AddToSet("contract:set", "b", 2);
            t.AddToSet("contract:set", "b", 0.5);
            t.AddRangeToSet("contract:set", ["d", "e"]);
            t.AddToSet("contract:other", "z");
        });
        using var connection = Connect();
        Assert.Equal(["b", "a", "c"], connection.GetRangeFromSet("contract:set", 2, 4));
        Assert.Equal(5, connection.GetSetCount("contract:set"));
        Assert.Equal(new HashSet<string> { "a", "b", "c", "d", "e" }, connection.GetAllItemsFromSet("contract:set"));
        Assert.Equal("b", connection.GetFirstByLowestScoreFromSet("contract:set", 0.1, 10));
        Assert.Equal(["b", "a"], connection.GetFirstByLowestScoreFromSet("contract:set", 0.1, 10, 2));
        Assert.Null(connection.GetFirstByLowestScoreFromSet("contract:set", 10, 20));
        Assert.True(connection.GetSetContains("contract:set", "a"));
        Assert.False(connection.GetSetContains("contract:set", "z"));
        Assert.Equal(6, connection.GetSetCount(["contract:set", "contract:other", "contract:none"], 100));
        Assert.Equal(3, connection.GetSetCount(["contract:set", "contract:other"], 3));
        Assert.Throws<ArgumentException>(() => connection.GetFirstByLowestScoreFromSet("contract:set", 2, 1));

        Commit(t => t.RemoveFromSet("contract:set", "a"));
        Assert.False(connection.GetSetContains("contract:set", "a"));
        Commit(t => t.RemoveSet("contract:set"));
        Assert.Equal(0, connection.GetSetCount("contract:set"));
        Assert.Single(connection.GetAllItemsFromSet("contract:other"));
    }

    [Fact]
    public void ListsReadNewestFirstAndTrimKeepsTheGivenRange()
    {
        Commit(t =>
        {
            foreach (var value in new[] { "1", "2", "3", "4", "2" })
            {
                t.InsertToList("contract:list", value);
            }
        });
        using var connection = Connect();
        Assert.Equal(["2", "4", "3", "2", "1"], connection.GetAllItemsFromList("contract:list"));
        Assert.Equal(["4", "3"], connection.GetRangeFromList("contract:list", 1, 2));
        Assert.Equal(5, connection.GetListCount("contract:list"));

        Commit(t => t.RemoveFromList("contract:list", "2"));
        Assert.Equal(["4", "3", "1"], connection.GetAllItemsFromList("contract:list"));

        Commit(t => t.TrimList("contract:list", 0, 1));
        Assert.Equal(["4", "3"], connection.GetAllItemsFromList("contract:list"));
        Assert.Empty(connection.GetAllItemsFromList("contract:none"));
    }

    [Fact]
    public void HashesStoreFieldsAndReadAsNullWhenAbsent()
    {
        Commit(t => t.SetRangeInHash("contract:hash", [new("Cron", "* * * * *"), new("Queue", "default")]));
        using var connection = Connect();
        connection.SetRangeInHash("contract:hash", [new("Queue", "critical"), new("TimeZoneId", "UTC")]);
        var all = connection.GetAllEntriesFromHash("contract:hash")!;
        Assert.Equal(3, all.Count);
        Assert.Equal("critical", all["Queue"]);
        Assert.Equal("* * * * *", connection.GetValueFromHash("contract:hash", "Cron"));
        Assert.Null(connection.GetValueFromHash("contract:hash", "Missing"));
        Assert.Equal(3, connection.GetHashCount("contract:hash"));
        Assert.Null(connection.GetAllEntriesFromHash("contract:none"));

        Commit(t => t.RemoveHash("contract:hash"));
        Assert.Null(connection.GetAllEntriesFromHash("contract:hash"));
    }

    [Fact]
    public void ExpiringAKeyGivesItATimeToLiveAndPersistingTakesItAway()
    {
        Commit(t =>
        {
            t.AddToSet("contract:ttl", "x");
            t.InsertToList("contract:ttl", "x");
            t.SetRangeInHash("contract:ttl", [new("f", "v")]);
        });
        using var connection = Connect();
        Assert.True(connection.GetSetTtl("contract:ttl") < TimeSpan.Zero);
        Assert.True(connection.GetListTtl("contract:ttl") < TimeSpan.Zero);
        Assert.True(connection.GetHashTtl("contract:ttl") < TimeSpan.Zero);

        Commit(t =>
        {
            t.ExpireSet("contract:ttl", Hour);
            t.ExpireList("contract:ttl", Hour);
            t.ExpireHash("contract:ttl", Hour);
        });
        Assert.InRange(connection.GetSetTtl("contract:ttl"), TimeSpan.FromMinutes(50), Hour);
        Assert.InRange(connection.GetListTtl("contract:ttl"), TimeSpan.FromMinutes(50), Hour);
        Assert.InRange(connection.GetHashTtl("contract:ttl"), TimeSpan.FromMinutes(50), Hour);

        Commit(t =>
        {
            t.PersistSet("contract:ttl");
            t.PersistList("contract:ttl");
            t.PersistHash("contract:ttl");
        });
        Assert.True(connection.GetSetTtl("contract:ttl") < TimeSpan.Zero);
        Assert.True(connection.GetListTtl("contract:ttl") < TimeSpan.Zero);
        Assert.True(connection.GetHashTtl("contract:ttl") < TimeSpan.Zero);
    }

    [Fact]
    public void ExpireJobAndPersistJobShowInTheJobDetails()
    {
        var id = CreateJob();
        Commit(t => t.PersistJob(id));
        Assert.Null(Storage.GetMonitoringApi().JobDetails(id).ExpireAt);
        Commit(t => t.ExpireJob(id, Hour));
        Assert.InRange(Storage.GetMonitoringApi().JobDetails(id).ExpireAt!.Value, DateTime.UtcNow.AddMinutes(50), DateTime.UtcNow.AddMinutes(61));
    }

    [Fact]
    public void CountersAddUpIncrementsAndDecrements()
    {
        Commit(t =>
        {
            t.IncrementCounter("contract:counter");
            t.IncrementCounter("contract:counter");
            t.IncrementCounter("contract:counter", Hour);
            t.DecrementCounter("contract:counter");
            t.DecrementCounter("contract:other", Hour);
        });
        using var connection = Connect();
        Assert.Equal(2, connection.GetCounter("contract:counter"));
        Assert.Equal(-1, connection.GetCounter("contract:other"));
        Assert.Equal(0, connection.GetCounter("contract:none"));
    }

    [Fact]
    public void ServersAnnounceBeatAndTimeOut()
    {
        using var connection = Connect();
        connection.AnnounceServer("contract-server", new ServerContext { WorkerCount = 3, Queues = ["default", "critical"] });
        connection.Heartbeat("contract-server");
        var server = Assert.Single(Storage.GetMonitoringApi().Servers(), s => s.Name == "contract-server");
        Assert.Equal(3, server.WorkersCount);
        Assert.Equal(["default", "critical"], server.Queues);
        Assert.Equal(0, connection.RemoveTimedOutServers(Hour));
        Thread.Sleep(50);
        Assert.Equal(1, connection.RemoveTimedOutServers(TimeSpan.FromMilliseconds(10)));
        Assert.Throws<BackgroundServerGoneException>(() => connection.Heartbeat("contract-server"));
        Assert.Throws<ArgumentException>(() => connection.RemoveTimedOutServers(TimeSpan.FromSeconds(-1)));

        connection.AnnounceServer("contract-other", new ServerContext { WorkerCount = 1, Queues = ["default"] });
        connection.RemoveServer("contract-other");
        Assert.DoesNotContain(Storage.GetMonitoringApi().Servers(), s => s.Name == "contract-other");
    }

    [Fact]
    public void ALockIsReentrantOnItsConnectionAndExcludesOthersUntilFullyReleased()
    {
        using var owner = Connect();
        using var other = Connect();
        var outer = owner.AcquireDistributedLock("contract:lock", TimeSpan.FromSeconds(1));
        var inner = owner.AcquireDistributedLock("contract:lock", TimeSpan.FromSeconds(1));
        Assert.Throws<DistributedLockTimeoutException>(() => other.AcquireDistributedLock("contract:lock", TimeSpan.Zero).Dispose());
        inner.Dispose();
        Assert.Throws<DistributedLockTimeoutException>(() => other.AcquireDistributedLock("contract:lock", TimeSpan.FromMilliseconds(100)).Dispose());
        outer.Dispose();
        other.AcquireDistributedLock("contract:lock", TimeSpan.FromSeconds(5)).Dispose();
    }

    [Fact]
    public void ALockTimeoutNamesTheResource()
    {
        using var owner = Connect();
        using var other = Connect();
        using var held = owner.AcquireDistributedLock("contract:named", TimeSpan.FromSeconds(1));
        var error = Assert.Throws<DistributedLockTimeoutException>(() => other.AcquireDistributedLock("contract:named", TimeSpan.FromMilliseconds(200)));
        Assert.EndsWith("contract:named", error.Resource, StringComparison.Ordinal);
    }

    [Fact]
    public void ALockExcludesOtherThreads()
    {
        var inside = 0;
        var overlaps = 0;
        var counter = 0;
        var threads = Enumerable.Range(0, 8).Select(_ => new Thread(() =>
        {
            using var connection = Connect();
            for (var i = 0; i < 25; i++)
            {
                using (connection.AcquireDistributedLock("contract:threads", TimeSpan.FromSeconds(60)))
                {
                    if (Interlocked.Increment(ref inside) > 1)
                    {
                        Interlocked.Increment(ref overlaps);
                    }

                    var read = counter;
                    Thread.Yield();
                    counter = read + 1;
                    Interlocked.Decrement(ref inside);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(0, overlaps);
        Assert.Equal(200, counter);
    }

    [Fact]
    public async Task ALockIsReleasedAfterAnAwaitOnAnotherThread()
    {
        using var owner = Connect();
        IDisposable? held = null;
        var acquiring = new Thread(() => held = owner.AcquireDistributedLock("contract:await", TimeSpan.FromSeconds(1)));
        acquiring.Start();
        acquiring.Join();

        // Code that awaits inside the lock resumes on another thread: a lock owned by a thread rather than by its
        // connection would refuse this release, or leave the lock held.
        await Task.Delay(20, TestContext.Current.CancellationToken);
        var releasing = new Thread(() => held!.Dispose());
        releasing.Start();
        releasing.Join();
        using var other = Connect();
        other.AcquireDistributedLock("contract:await", TimeSpan.FromSeconds(5)).Dispose();
    }

    [Fact]
    public void ATransactionLockHoldsUntilCommit()
    {
        Assert.True(Storage.HasFeature(JobStorageFeatures.Transaction.AcquireDistributedLock));
        using var connection = Connect();
        using var other = Connect();
        using (var transaction = (JobStorageTransaction)connection.CreateWriteTransaction())
        {
            transaction.AcquireDistributedLock("contract:tx-lock", TimeSpan.FromSeconds(1));
            transaction.IncrementCounter("contract:tx-lock");
            Assert.Throws<DistributedLockTimeoutException>(() => other.AcquireDistributedLock("contract:tx-lock", TimeSpan.FromMilliseconds(100)).Dispose());
            transaction.Commit();
        }

        other.AcquireDistributedLock("contract:tx-lock", TimeSpan.FromSeconds(5)).Dispose();
        Assert.Equal(1, other.GetCounter("contract:tx-lock"));
    }

    [Fact]
    public void AJobsQueuePropertyRoutesItToThatQueue()
    {
        Assert.True(Storage.HasFeature(JobStorageFeatures.JobQueueProperty));
        var client = new BackgroundJobClient(Storage);
        var id = client.Enqueue("critical", () => TestJobs.Noop());
        using var connection = Connect();
        Assert.Equal("critical", connection.GetJobData(id)!.Job.Queue);
        Assert.Equal(1, Storage.GetMonitoringApi().EnqueuedCount("critical"));
        using var fetched = connection.FetchNextJob(["critical"], TestContext.Current.CancellationToken);
        Assert.Equal(id, fetched.JobId);
        fetched.RemoveFromQueue();
    }

    [Fact]
    public void TheMonitoringApiShowsJobsInEveryState()
    {
        // Only the statistics filter: the global AutomaticRetry would turn the failure into a scheduled retry.
        var client = new BackgroundJobClient(Storage, new JobFilterCollection { new StatisticsHistoryAttribute() });
        var enqueued = client.Enqueue(() => TestJobs.Noop());
        var scheduled = client.Schedule(() => TestJobs.Noop(), TimeSpan.FromHours(1));
        var processing = client.Create(() => TestJobs.Noop(), new ScheduledState(Hour));
        Commit(t => t.SetJobState(processing, new StateNamed(ProcessingState.StateName, new()
        {
            ["StartedAt"] = JobHelper.SerializeDateTime(DateTime.UtcNow),
            ["ServerId"] = "contract-server",
            ["WorkerId"] = "worker-1",
        })));
        var succeeded = client.Create(() => TestJobs.Noop(), new ScheduledState(Hour));
        client.ChangeState(succeeded, new SucceededState("42", 5, 7));
        var failed = client.Create(() => TestJobs.Noop(), new ScheduledState(Hour));
        client.ChangeState(failed, new FailedState(new InvalidOperationException("planned")));
        var deleted = client.Create(() => TestJobs.Noop(), new ScheduledState(Hour));
        client.Delete(deleted);
        var awaiting = client.ContinueJobWith(scheduled, () => TestJobs.Noop());

        var monitor = (JobStorageMonitor)Storage.GetMonitoringApi();
        var stats = monitor.GetStatistics();
        Assert.Equal(1, stats.Enqueued);
        Assert.Equal(1, stats.Scheduled);
        Assert.Equal(1, stats.Processing);
        Assert.Equal(1, stats.Failed);
        Assert.Equal(1, stats.Succeeded);
        Assert.Equal(1, stats.Deleted);
        Assert.Equal(1, stats.Awaiting);
        Assert.Equal(1, stats.Queues);

        Assert.Equal(enqueued, Assert.Single(monitor.EnqueuedJobs("default", 0, 10)).Key);
        Assert.Equal(1, monitor.EnqueuedCount("default"));
        var queue = Assert.Single(monitor.Queues());
        Assert.Equal("default", queue.Name);
        Assert.Equal(enqueued, Assert.Single(queue.FirstJobs).Key);
        Assert.Equal(scheduled, Assert.Single(monitor.ScheduledJobs(0, 10)).Key);
        Assert.Equal(1, monitor.ScheduledCount());
        var processingJob = Assert.Single(monitor.ProcessingJobs(0, 10));
        Assert.Equal(processing, processingJob.Key);
        Assert.Equal("contract-server", processingJob.Value.ServerId);
        Assert.Equal(1, monitor.ProcessingCount());
        var succeededJob = Assert.Single(monitor.SucceededJobs(0, 10));
        Assert.Equal(succeeded, succeededJob.Key);
        Assert.Equal(12, succeededJob.Value.TotalDuration);
        Assert.Equal(1, monitor.SucceededListCount());
        var failedJob = Assert.Single(monitor.FailedJobs(0, 10));
        Assert.Equal(failed, failedJob.Key);
        Assert.Equal("planned", failedJob.Value.ExceptionMessage);
        Assert.Equal(1, monitor.FailedCount());
        Assert.Equal(deleted, Assert.Single(monitor.DeletedJobs(0, 10)).Key);
        Assert.Equal(1, monitor.DeletedListCount());
        Assert.True(Storage.HasFeature(JobStorageFeatures.Monitoring.AwaitingJobs));
        var awaitingJob = Assert.Single(monitor.AwaitingJobs(0, 10));
        Assert.Equal(awaiting, awaitingJob.Key);
        Assert.Equal(ScheduledState.StateName, awaitingJob.Value.ParentStateName);
        Assert.Equal(1, monitor.AwaitingCount());

        var details = monitor.JobDetails(succeeded);
        Assert.Equal([SucceededState.StateName, ScheduledState.StateName], details.History.Select(h => h.StateName));
        Assert.Null(monitor.JobDetails("987654321"));

        var today = DateTime.UtcNow.Date;
        Assert.Equal(1, monitor.SucceededByDatesCount().Single(p => p.Key.Date == today).Value);
        Assert.Equal(1, monitor.FailedByDatesCount().Single(p => p.Key.Date == today).Value);
        Assert.Equal(1, monitor.HourlySucceededJobs().Values.Sum());
        Assert.Equal(1, monitor.HourlyFailedJobs().Values.Sum());
        Assert.True(Storage.HasFeature(JobStorageFeatures.Monitoring.DeletedStateGraphs));
        Assert.Equal(1, monitor.DeletedByDatesCount().Single(p => p.Key.Date == today).Value);
        Assert.Equal(1, monitor.HourlyDeletedJobs().Values.Sum());
        Assert.Equal(7, monitor.SucceededByDatesCount().Count);
        Assert.Equal(24, monitor.HourlyFailedJobs().Count);
    }

    [Fact]
    public void PagingThroughStateListsSkipsAndTakes()
    {
        var client = new BackgroundJobClient(Storage);
        var ids = Enumerable.Range(0, 5).Select(i => client.Schedule(() => TestJobs.Noop(), TimeSpan.FromMinutes(10 + i))).ToList();
        var monitor = Storage.GetMonitoringApi();
        var page = monitor.ScheduledJobs(1, 2).Select(p => p.Key).ToList();
        Assert.Equal(2, page.Count);
        Assert.Subset(ids.ToHashSet(), page.ToHashSet());
        Assert.Equal(5, monitor.ScheduledJobs(0, 100).Count);
        Assert.Equal(5, monitor.ScheduledJobs(0, 100).Select(p => p.Key).Distinct().Count());
        var enqueued = Enumerable.Range(0, 3).Select(_ => client.Enqueue(() => TestJobs.Noop())).ToList();
        Assert.Equal(enqueued, monitor.EnqueuedJobs("default", 0, 10).Select(p => p.Key));
        Assert.Equal(enqueued.Skip(1), monitor.EnqueuedJobs("default", 1, 10).Select(p => p.Key));
    }

    [Fact]
    public void TheStorageAdvertisesTheFeaturesHangfireLooksFor()
    {
        foreach (var feature in new[]
        {
            JobStorageFeatures.ExtendedApi,
            JobStorageFeatures.JobQueueProperty,
            JobStorageFeatures.Connection.GetUtcDateTime,
            JobStorageFeatures.Connection.GetSetContains,
            JobStorageFeatures.Connection.LimitedGetSetCount,
            JobStorageFeatures.Connection.BatchedGetFirstByLowest,
            JobStorageFeatures.Transaction.AcquireDistributedLock,
            JobStorageFeatures.Transaction.CreateJob,
            JobStorageFeatures.Transaction.SetJobParameter,
        })
        {
            Assert.True(Storage.HasFeature(feature), feature);
        }

        Assert.False(Storage.HasFeature("Storage.SomethingNobodyImplements"));
        using var connection = Connect();
        Assert.InRange(connection.GetUtcDateTime(), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));
        Assert.True(Storage.LinearizableReads);
    }

    [Fact]
    public async Task AJobFailsTwiceThenSucceedsThroughAutomaticRetries()
    {
        using var ledger = new TempFolder();
        using var server = StartServer();
        var id = new BackgroundJobClient(Storage).Enqueue(() => TestJobs.FailTimes(ledger.Path, "retry", 2));
        await Eventually.TrueAsync(() => State(id) == SucceededState.StateName, TimeSpan.FromSeconds(60), () => $"state {State(id)}");
        var lines = Ledger.Read(ledger.Path);
        Assert.Equal(3, lines.Count(l => l.Event == "attempt"));
        Assert.Single(lines, l => l.Event == "run");
        var history = Storage.GetMonitoringApi().JobDetails(id).History.Select(h => h.StateName).ToList();
        Assert.Equal(2, history.Count(s => s == FailedState.StateName));
    }

    [Fact]
    public async Task AContinuationRunsOnceAfterItsParent()
    {
        using var ledger = new TempFolder();
        using var server = StartServer();
        var client = new BackgroundJobClient(Storage);
        var parent = client.Enqueue(() => TestJobs.SleepAndRecord(ledger.Path, "parent", 300));
        var child = client.ContinueJobWith(parent, () => TestJobs.Record(ledger.Path, "child"));
        await Eventually.TrueAsync(() => State(child) == SucceededState.StateName, TimeSpan.FromSeconds(60), () => $"child {State(child)}, parent {State(parent)}");
        var lines = Ledger.Read(ledger.Path).Select(l => $"{l.Event} {l.Key}").ToList();
        Assert.Equal(["start parent", "end parent", "run child"], lines);
    }

    private string? State(string id)
    {
        using var connection = Connect();
        return connection.GetStateData(id)?.Name;
    }

    private BackgroundJobServer StartServer() => new(
        new BackgroundJobServerOptions
        {
            WorkerCount = 2,
            SchedulePollingInterval = TimeSpan.FromMilliseconds(200),
            ServerName = "contract-" + Guid.NewGuid().ToString("N")[..6],
            ServerCheckInterval = TimeSpan.FromSeconds(5),
        },
        Storage);

    /// <summary>A state with a name and data only: Hangfire keeps ProcessingState's constructor to itself.</summary>
    private sealed class StateNamed(string name, Dictionary<string, string> data) : IState
    {
        public string Name => name;

        public string? Reason => null;

        public bool IsFinal => false;

        public bool IgnoreJobLoadException => false;

        public Dictionary<string, string> SerializeData() => data;
    }
}
