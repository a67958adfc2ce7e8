using Hangfire.Logging;
using Hangfire.Server;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// Deletes rows whose time ran out, a batch per transaction so writers never queue behind one long delete. Every server
/// runs it; two running at once only share the work, since each batch deletes what is expired at that moment.
/// </summary>
internal sealed class ExpirationManager(SqliteStorage storage) : IBackgroundProcess
{
    private static readonly ILog Logger = LogProvider.GetLogger(typeof(ExpirationManager));

    /// <summary>A lock row is free to take once expired; its row is only tidied away long after, to keep renewal races rare.</summary>
    private static readonly TimeSpan StaleLockAge = TimeSpan.FromHours(1);

    /// <summary>Tables whose rows expire one by one, with the column a row is found by (aggregated_counter has no rowid).</summary>
    private static readonly (string Table, string Row)[] KeyedTables =
        [("counter", "rowid"), ("aggregated_counter", "key"), ("list_entry", "rowid"), ("set_entry", "rowid"), ("hash_entry", "rowid")];

    public void Execute(BackgroundProcessContext context)
    {
        var deleted = RemoveExpired(context.StoppingToken);
        if (deleted > 0)
        {
            Logger.Debug($"Removed {deleted} expired rows from the job database.");
        }

        context.Wait(storage.Options.JobExpirationCheckInterval);
    }

    /// <summary>Removes every row expired by now and returns how many; tests call it to run one pass on demand.</summary>
    internal long RemoveExpired(CancellationToken cancellationToken)
    {
        var batch = storage.Options.ExpirationBatchSize;
        long total = 0;
        total += Drain(connection => RemoveExpiredJobs(connection, batch), batch, cancellationToken);
        foreach (var (table, row) in KeyedTables)
        {
            total += Drain(
                connection => connection.Execute(
                    $"DELETE FROM {table} WHERE {row} IN (SELECT {row} FROM {table} WHERE expire_at < $now ORDER BY expire_at LIMIT $batch)",
                    ("$now", UnixMs.Now()),
                    ("$batch", batch)),
                batch,
                cancellationToken);
        }

        total += storage.Database.Write(connection => connection.Execute(
            "DELETE FROM distributed_lock WHERE expire_at < $before",
            ("$before", UnixMs.Now() - (long)StaleLockAge.TotalMilliseconds)));
        return total;
    }

    private static int RemoveExpiredJobs(SqliteConnection connection, int batch)
    {
        // One set of ids for the four deletes, chosen by one statement.
        connection.Execute("CREATE TEMP TABLE IF NOT EXISTS expired_job (id INTEGER PRIMARY KEY)");
        connection.Execute("DELETE FROM expired_job");
        connection.Execute(
            "INSERT INTO expired_job (id) SELECT id FROM job WHERE expire_at < $now ORDER BY expire_at LIMIT $batch",
            ("$now", UnixMs.Now()),
            ("$batch", batch));
        connection.Execute("DELETE FROM job_parameter WHERE job_id IN (SELECT id FROM expired_job)");
        connection.Execute("DELETE FROM job_state WHERE job_id IN (SELECT id FROM expired_job)");
        connection.Execute("DELETE FROM job_queue WHERE job_id IN (SELECT id FROM expired_job)");
        return connection.Execute("DELETE FROM job WHERE id IN (SELECT id FROM expired_job)");
    }

    private long Drain(Func<SqliteConnection, int> deleteBatch, int batch, CancellationToken cancellationToken) =>
        Drain(storage.Database, deleteBatch, batch, cancellationToken);

    /// <summary>Runs <paramref name="deleteBatch"/> in write transactions until a batch comes back short or a stop is asked for.</summary>
    internal static long Drain(SqliteDatabase database, Func<SqliteConnection, int> deleteBatch, int batch, CancellationToken cancellationToken)
    {
        long total = 0;
        int deleted;
        do
        {
            deleted = database.Write(deleteBatch);
            total += deleted;
        }
        while (deleted >= batch && !cancellationToken.IsCancellationRequested);

        return total;
    }

    public override string ToString() => "SQLite expiration manager";
}

/// <summary>
/// Folds the counter table's rows, one per increment, into one row per key, a batch at a time. Increments go straight to
/// their key's row now (<see cref="SqliteJobStorageTransaction"/>); the rows this folds are those an earlier version wrote,
/// so a job file upgraded with some in it still adds them up.
/// </summary>
internal sealed class CountersAggregator(SqliteStorage storage) : IBackgroundProcess
{
    public void Execute(BackgroundProcessContext context)
    {
        Aggregate(context.StoppingToken);
        context.Wait(storage.Options.CountersAggregateInterval);
    }

    internal long Aggregate(CancellationToken cancellationToken) => ExpirationManager.Drain(
        storage.Database,
        connection =>
        {
            if (connection.Scalar("SELECT MAX(id) FROM (SELECT id FROM counter ORDER BY id LIMIT $batch)", ("$batch", storage.Options.ExpirationBatchSize)) is not long maxId)
            {
                return 0;
            }

            connection.Execute(
                """
                INSERT INTO aggregated_counter (key, value, expire_at)
                SELECT key, SUM(value), MAX(expire_at) FROM counter WHERE id <= $maxId GROUP BY key

                """ + JobRows.MergeIntoCounter,
                ("$maxId", maxId));
            // Only this batch's keys can have reached zero; a scan of every aggregated key would grow with the stats kept.
            connection.Execute("DELETE FROM aggregated_counter WHERE value = 0 AND key IN (SELECT key FROM counter WHERE id <= $maxId)", ("$maxId", maxId));
            return connection.Execute("DELETE FROM counter WHERE id <= $maxId", ("$maxId", maxId));
        },
        storage.Options.ExpirationBatchSize,
        cancellationToken);

    public override string ToString() => "SQLite counters aggregator";
}
