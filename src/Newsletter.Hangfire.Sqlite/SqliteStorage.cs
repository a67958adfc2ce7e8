using Hangfire;
using Hangfire.Logging;
using Hangfire.Server;
using Hangfire.Storage;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// A Hangfire 1.8 job storage in one SQLite file, for one host on a local disk. Several processes on that host may share
/// the file; several hosts may not (use PostgreSQL for that).
/// </summary>
public sealed class SqliteStorage : JobStorage, IDisposable
{
    private static readonly HashSet<string> Features = new(StringComparer.OrdinalIgnoreCase)
    {
        JobStorageFeatures.ExtendedApi,
        JobStorageFeatures.JobQueueProperty,
        JobStorageFeatures.ProcessesInsteadOfComponents,
        JobStorageFeatures.Connection.GetUtcDateTime,
        JobStorageFeatures.Connection.GetSetContains,
        JobStorageFeatures.Connection.LimitedGetSetCount,
        JobStorageFeatures.Connection.BatchedGetFirstByLowest,
        JobStorageFeatures.Transaction.AcquireDistributedLock,
        JobStorageFeatures.Transaction.CreateJob,
        JobStorageFeatures.Transaction.SetJobParameter,
        JobStorageFeatures.Transaction.RemoveFromQueue(typeof(SqliteFetchedJob)),
        JobStorageFeatures.Monitoring.AwaitingJobs,
        JobStorageFeatures.Monitoring.DeletedStateGraphs,
    };

    private const int JobIdBlock = 100;

    private readonly AutoResetEvent _jobEnqueued = new(false);
    private readonly object _jobIds = new();
    private long _nextJobId = 1;
    private long _lastJobId;
    private readonly object _lockReleased = new();

    /// <summary>Opens (creating and migrating when needed) the database named by <paramref name="options"/>.</summary>
    public SqliteStorage(SqliteStorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Database = new SqliteDatabase(options);
        var directory = System.IO.Path.GetDirectoryName(Database.FilePath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        SqliteSchema.Install(Database);
        Leases = new LeaseKeeper(Database, options.InvisibilityTimeout < options.DistributedLockLifetime ? options.InvisibilityTimeout : options.DistributedLockLifetime);
    }

    /// <summary>The options this storage was created with.</summary>
    public SqliteStorageOptions Options { get; }

    /// <summary>
    /// True: every operation opens a new connection, and in WAL mode a read transaction sees every transaction committed
    /// before it began, in this process or any other on the host.
    /// </summary>
    public override bool LinearizableReads => true;

    internal SqliteDatabase Database { get; }

    internal LeaseKeeper Leases { get; }

    /// <summary>
    /// A job id for a job whose insert is written later: drawn from a block reserved in the file, so only one write in
    /// <see cref="JobIdBlock"/> jobs reserves ids. Ids from two processes interleave, so ids say nothing about creation order.
    /// </summary>
    internal long NextJobId()
    {
        lock (_jobIds)
        {
            if (_nextJobId > _lastJobId)
            {
                _lastJobId = JobRows.ReserveJobIds(Database, JobIdBlock);
                _nextJobId = _lastJobId - JobIdBlock + 1;
            }

            return _nextJobId++;
        }
    }

    /// <summary>A fetched job whose fetch is older than this (ms) is visible again: its worker is presumed dead.</summary>
    internal long VisibleBefore(long nowMs) => nowMs - (long)Options.InvisibilityTimeout.TotalMilliseconds;

    /// <inheritdoc />
    public override IMonitoringApi GetMonitoringApi() => new SqliteMonitoringApi(this);

    /// <inheritdoc />
    public override IStorageConnection GetConnection() => new SqliteJobStorageConnection(this);

    /// <inheritdoc />
    public override bool HasFeature(string featureId)
    {
        ArgumentNullException.ThrowIfNull(featureId);
        return Features.Contains(featureId) || base.HasFeature(featureId);
    }

    /// <summary>None: fetched jobs and locks are renewed by the storage itself, so they stay alive outside a server too.</summary>
    public override IEnumerable<IBackgroundProcess> GetServerRequiredProcesses() => [];

    /// <summary>Deletes expired rows and folds counter increments; each server runs them, and they are safe to run concurrently.</summary>
    public override IEnumerable<IBackgroundProcess> GetStorageWideProcesses() =>
    [
        new ExpirationManager(this),
        new CountersAggregator(this),
    ];

    /// <inheritdoc />
    public override void WriteOptionsToLog(ILog logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        logger.Info($"Using SQLite job storage at '{Database.FilePath}': queue poll interval {Options.QueuePollInterval}, invisibility timeout {Options.InvisibilityTimeout}, lock lifetime {Options.DistributedLockLifetime}, expiration batch {Options.ExpirationBatchSize} every {Options.JobExpirationCheckInterval}.");
    }

    /// <inheritdoc />
    public override string ToString() => $"SQLite: {Database.FilePath}";

    /// <summary>
    /// Stops renewing fetched jobs and locks and deletes the lock rows released but not deleted yet; call it after the servers
    /// using this storage have stopped.
    /// </summary>
    public void Dispose()
    {
        Leases.Dispose();
        Database.Parked.Dispose();
        Database.CloseIdle();
        _jobEnqueued.Dispose();
    }

    /// <summary>Wakes one worker of this process at once; workers of other processes see the job at their next poll.</summary>
    internal void SignalJobEnqueued() => _jobEnqueued.Set();

    internal bool WaitForJobEnqueued(TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitHandle.WaitAny([_jobEnqueued, cancellationToken.WaitHandle], timeout) == 0;

    internal void SignalLockRelease()
    {
        lock (_lockReleased)
        {
            Monitor.PulseAll(_lockReleased);
        }
    }

    internal void WaitForLockRelease(TimeSpan timeout)
    {
        lock (_lockReleased)
        {
            Monitor.Wait(_lockReleased, timeout);
        }
    }
}
