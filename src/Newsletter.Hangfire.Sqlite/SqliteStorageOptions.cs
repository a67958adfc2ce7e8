namespace Newsletter.Hangfire.Sqlite;

/// <summary>Settings of the SQLite job storage. The defaults suit one host with a handful of workers.</summary>
public sealed class SqliteStorageOptions
{
    /// <summary>The database file. Relative paths resolve against the current directory; the app passes one under its data folder.</summary>
    public string Path { get; set; } = System.IO.Path.Combine("data", "jobs.db");

    /// <summary>How long an idle worker waits before it looks at the queues again when no other process told it about new work.</summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a fetched job stays invisible to other workers without a heartbeat. A live worker renews it every fifth of
    /// this interval, so only the jobs of a dead process come back, after this long.
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The longest a caller that asked to wait forever waits for a distributed lock before it gets a
    /// <see cref="global::Hangfire.Storage.DistributedLockTimeoutException"/>: a holder that never lets go shows as an error,
    /// not as a hang. Finite timeouts that Hangfire names are used as they are.
    /// </summary>
    public TimeSpan DistributedLockTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a distributed lock outlives its holder. A live holder renews it every fifth of this interval, so a lock of a
    /// killed process frees itself after this long.
    /// </summary>
    public TimeSpan DistributedLockLifetime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many expired rows one expiration transaction deletes, so writers never wait long behind it.</summary>
    public int ExpirationBatchSize { get; set; } = 1000;

    /// <summary>How often expired rows are deleted and counters aggregated.</summary>
    public TimeSpan JobExpirationCheckInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often raw counter increments are folded into one row per counter.</summary>
    public TimeSpan CountersAggregateInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a statement waits for another connection's write lock before SQLite reports the database busy.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a whole write transaction is retried when the database stays busy beyond <see cref="BusyTimeout"/>.</summary>
    public int TransactionRetryAttempts { get; set; } = 3;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            throw new ArgumentException("SqliteStorageOptions.Path must name a database file.", nameof(Path));
        }

        Positive(QueuePollInterval, nameof(QueuePollInterval));
        Positive(InvisibilityTimeout, nameof(InvisibilityTimeout));
        Positive(DistributedLockTimeout, nameof(DistributedLockTimeout));
        Positive(DistributedLockLifetime, nameof(DistributedLockLifetime));
        Positive(JobExpirationCheckInterval, nameof(JobExpirationCheckInterval));
        Positive(CountersAggregateInterval, nameof(CountersAggregateInterval));
        Positive(BusyTimeout, nameof(BusyTimeout));
        if (ExpirationBatchSize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ExpirationBatchSize), ExpirationBatchSize, "Must be positive.");
        }

        if (TransactionRetryAttempts < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(TransactionRetryAttempts), TransactionRetryAttempts, "Must not be negative.");
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, "Must be positive.");
        }
    }
}
