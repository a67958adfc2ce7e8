using System.Text.Json;
using Hangfire.Common;
using Hangfire.Logging;
using Hangfire.Server;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// Hangfire's connection object. It holds no database connection of its own: each call opens a pooled one and closes it,
/// so an instance may be used from any thread and holds nothing open while a job runs. It does own the locks taken
/// through it, and releases them when disposed.
/// </summary>
internal sealed class SqliteJobStorageConnection : JobStorageConnection
{
    private static readonly ILog Logger = LogProvider.GetLogger(typeof(SqliteJobStorageConnection));

    private readonly SqliteStorage _storage;
    private readonly List<JobRows.CreatedJob> _created = [];

    public SqliteJobStorageConnection(SqliteStorage storage)
    {
        _storage = storage;
        Locks = new SqliteLockSet(storage);
    }

    internal SqliteLockSet Locks { get; }

    /// <summary>
    /// Every call that reads or writes the file goes through here, and first writes the jobs created on this connection and
    /// not yet written, so the connection never reads its own jobs as missing. Only a write transaction's commit takes them
    /// along instead, in its own transaction.
    /// </summary>
    private SqliteDatabase Database
    {
        get
        {
            WriteCreatedJobs();
            return _storage.Database;
        }
    }

    public override void Dispose()
    {
        try
        {
            WriteCreatedJobs();
        }
        catch (SqliteException ex)
        {
            // Only a caller that created a job and never used the connection again gets here; throwing from Dispose would
            // hide the exception that may be unwinding.
            Logger.ErrorException($"Could not write {_created.Count} created background job(s); they were never initialized and are gone.", ex);
        }

        Locks.ReleaseAll();
        base.Dispose();
    }

    /// <summary>The jobs created on this connection and not yet written, for a commit to write first.</summary>
    internal IReadOnlyList<JobRows.CreatedJob> CreatedJobs()
    {
        lock (_created)
        {
            return _created.Count == 0 ? [] : [.. _created];
        }
    }

    /// <summary>Called after a commit that wrote <paramref name="written"/>.</summary>
    internal void Written(IReadOnlyList<JobRows.CreatedJob> written)
    {
        if (written.Count == 0)
        {
            return;
        }

        lock (_created)
        {
            _created.RemoveAll(job => written.Contains(job));
        }
    }

    private void WriteCreatedJobs()
    {
        var created = CreatedJobs();
        if (created.Count > 0)
        {
            _storage.Database.Write(connection =>
            {
                foreach (var job in created)
                {
                    job.Insert(connection);
                }
            });
            Written(created);
        }
    }

    public override IWriteOnlyTransaction CreateWriteTransaction() => new SqliteJobStorageTransaction(_storage, this);

    public override IDisposable AcquireDistributedLock(string resource, TimeSpan timeout) => Locks.Acquire(resource, timeout);

    public override string CreateExpiredJob(Job job, IDictionary<string, string> parameters, DateTime createdAt, TimeSpan expireIn)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(parameters);
        var created = new JobRows.CreatedJob(
            _storage.NextJobId(), JobRows.Payload(job), createdAt, expireIn, parameters.ToDictionary(p => p.Key, p => (string?)p.Value));

        // Not written yet: Hangfire's next step is a transaction that sets the job's first state, and the insert goes with
        // it (see CreatedJobs). A job whose first state never commits is written by the connection's next call or its
        // Dispose, as an expiring job without a state, as Hangfire expects.
        lock (_created)
        {
            _created.Add(created);
        }

        return UnixMs.Id(created.Id);
    }

    public override IFetchedJob FetchNextJob(string[] queues, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queues);
        if (queues.Length == 0)
        {
            throw new ArgumentException("At least one queue is needed.", nameof(queues));
        }

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // Queues in the caller's order of priority: a job in the first queue always goes before one in the second.
            foreach (var queue in queues)
            {
                var fetched = TryClaim(queue);
                if (fetched is not null)
                {
                    // One enqueue signal wakes one idle worker; passing it on lets a burst of jobs wake them all, one
                    // claim at a time, instead of leaving the rest asleep until their next poll.
                    _storage.SignalJobEnqueued();
                    return fetched;
                }
            }

            _storage.WaitForJobEnqueued(_storage.Options.QueuePollInterval, cancellationToken);
        }
    }

    /// <summary>
    /// One statement finds the oldest row nobody holds (never fetched, or its holder stopped renewing it) and stamps it
    /// with a fresh token; SQLite runs it under the single write lock, so two workers can never claim the same row.
    /// </summary>
    private SqliteFetchedJob? TryClaim(string queue)
    {
        var token = Random.Shared.NextInt64(1, long.MaxValue);
        var now = UnixMs.Now();
        var visibleBefore = _storage.VisibleBefore(now);

        // A plain read first: idle workers polling an empty queue must not queue up for the single write lock that
        // every job's state change needs. The UPDATE below stays the only thing that decides who gets a row.
        if (Database.Read(connection => connection.Long(
            "SELECT EXISTS (SELECT 1 FROM job_queue WHERE queue = $queue AND (fetched_at IS NULL OR fetched_at < $visibleBefore))",
            ("$queue", queue),
            ("$visibleBefore", visibleBefore))) == 0)
        {
            return null;
        }

        var lockOwner = Guid.NewGuid().ToString("N");
        var lockExpiresAt = UnixMs.After(_storage.Options.DistributedLockLifetime);
        var claimed = Database.Write<((long Id, long JobId) Row, bool Locked)?>(connection =>
        {
            var rows = connection.List(
                """
                UPDATE job_queue SET fetched_at = $now, fetch_token = $token
                WHERE id = (
                    SELECT id FROM job_queue
                    WHERE queue = $queue AND (fetched_at IS NULL OR fetched_at < $visibleBefore)
                    ORDER BY id LIMIT 1)
                RETURNING id, job_id
                """,
                reader => (Id: reader.GetInt64(0), JobId: reader.GetInt64(1)),
                ("$now", now),
                ("$token", token),
                ("$queue", queue),
                ("$visibleBefore", visibleBefore));
            if (rows.Count == 0)
            {
                return null;
            }

            // The worker's next step is to lock the job's state ("job:<id>:state-lock", the name Hangfire's
            // AcquireDistributedJobLock gives it) and move it to Processing. Taking that row here, in the claim's
            // transaction, and parking it as released lets that lock be adopted without a transaction of its own. If the
            // lock is held elsewhere, or Hangfire ever names it differently, nothing is parked or nobody adopts it, and the
            // row goes with the next write after the grace: the same as any released lock.
            var locked = connection.Execute(
                """
                INSERT INTO distributed_lock (resource, owner, expire_at) VALUES ($resource, $owner, $expireAt)
                ON CONFLICT (resource) DO UPDATE SET owner = excluded.owner, expire_at = excluded.expire_at
                WHERE distributed_lock.expire_at < $now
                """,
                ("$resource", StateLock(rows[0].JobId)),
                ("$owner", lockOwner),
                ("$expireAt", lockExpiresAt),
                ("$now", now)) == 1;
            return (rows[0], locked);
        });
        if (claimed is not { } taken)
        {
            return null;
        }

        if (taken.Locked && !_storage.Database.Parked.Park(new ParkedLocks.Parked(StateLock(taken.Row.JobId), lockOwner, lockExpiresAt, UnixMs.Now())))
        {
            _storage.Database.Write(connection => connection.Execute(
                "DELETE FROM distributed_lock WHERE resource = $resource AND owner = $owner",
                ("$resource", StateLock(taken.Row.JobId)),
                ("$owner", lockOwner)));
        }

        return new SqliteFetchedJob(_storage, taken.Row.Id, taken.Row.JobId, token);
    }

    private static string StateLock(long jobId) => $"job:{UnixMs.Id(jobId)}:state-lock";

    public override void SetJobParameter(string id, string name, string value)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(name);
        if (UnixMs.TryParseId(id, out var jobId))
        {
            Database.Write(connection => JobRows.SetParameter(connection, jobId, name, value));
        }
    }

    public override string? GetJobParameter(string id, string name)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(name);
        return UnixMs.TryParseId(id, out var jobId)
            ? Database.Read(connection => (string?)connection.Scalar(
                "SELECT value FROM job_parameter WHERE job_id = $jobId AND name = $name",
                ("$jobId", jobId),
                ("$name", name)))
            : null;
    }

    public override JobData? GetJobData(string jobId)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        if (!UnixMs.TryParseId(jobId, out var id))
        {
            return null;
        }

        // One statement, so one snapshot of the job and its parameters without a transaction around two reads
        // (Hangfire reads every job twice on its way to Succeeded).
        var rows = Database.Read(connection => connection.List(
            "SELECT j.invocation_data, j.state_name, j.created_at, p.name, p.value FROM job j LEFT JOIN job_parameter p ON p.job_id = j.id WHERE j.id = $id",
            reader => (Payload: reader.GetString(0), State: reader.NullableString(1), CreatedAt: reader.GetInt64(2), Name: reader.NullableString(3), Value: reader.NullableString(4)),
            ("$id", id)));
        if (rows.Count == 0)
        {
            return null;
        }

        var (job, data, error) = JobRows.Load(rows[0].Payload);
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var row in rows)
        {
            if (row.Name is not null)
            {
                parameters[row.Name] = row.Value!;
            }
        }

        return new JobData
        {
            Job = job,
            InvocationData = data,
            LoadException = error,
            State = rows[0].State,
            CreatedAt = UnixMs.ToDateTime(rows[0].CreatedAt),
            ParametersSnapshot = parameters,
        };
    }

    public override StateData? GetStateData(string jobId)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        if (!UnixMs.TryParseId(jobId, out var id))
        {
            return null;
        }

        var rows = Database.Read(connection => connection.List(
            "SELECT s.name, s.reason, s.data FROM job j JOIN job_state s ON s.id = j.state_id WHERE j.id = $id",
            reader => new StateData { Name = reader.GetString(0), Reason = reader.NullableString(1), Data = JobRows.StateData(reader.NullableString(2)) },
            ("$id", id)));
        return rows.Count == 0 ? null : rows[0];
    }

    public override void AnnounceServer(string serverId, ServerContext context)
    {
        ArgumentNullException.ThrowIfNull(serverId);
        ArgumentNullException.ThrowIfNull(context);
        var now = UnixMs.Now();
        var data = JsonSerializer.Serialize(new ServerRow(context.WorkerCount, context.Queues ?? [], now));
        Database.Write(connection => connection.Execute(
            """
            INSERT INTO server (id, data, last_heartbeat) VALUES ($id, $data, $now)
            ON CONFLICT (id) DO UPDATE SET data = excluded.data, last_heartbeat = excluded.last_heartbeat
            """,
            ("$id", serverId),
            ("$data", data),
            ("$now", now)));
    }

    public override void RemoveServer(string serverId)
    {
        ArgumentNullException.ThrowIfNull(serverId);
        Database.Write(connection => connection.Execute("DELETE FROM server WHERE id = $id", ("$id", serverId)));
    }

    public override void Heartbeat(string serverId)
    {
        ArgumentNullException.ThrowIfNull(serverId);
        var updated = Database.Write(connection => connection.Execute(
            "UPDATE server SET last_heartbeat = $now WHERE id = $id",
            ("$now", UnixMs.Now()),
            ("$id", serverId)));
        if (updated == 0)
        {
            // Another server's watchdog removed us as timed out; Hangfire restarts this server when it sees this.
            throw new BackgroundServerGoneException();
        }
    }

    public override int RemoveTimedOutServers(TimeSpan timeOut)
    {
        if (timeOut <= TimeSpan.Zero)
        {
            throw new ArgumentException("The timeout must be positive.", nameof(timeOut));
        }

        return Database.Write(connection => connection.Execute(
            "DELETE FROM server WHERE last_heartbeat < $cutoff",
            ("$cutoff", UnixMs.Now() - (long)timeOut.TotalMilliseconds)));
    }

    public override DateTime GetUtcDateTime() => DateTime.UtcNow;

    public override HashSet<string> GetAllItemsFromSet(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return [.. Database.Read(connection => connection.List("SELECT value FROM set_entry WHERE key = $key", reader => reader.GetString(0), ("$key", key)))];
    }

    public override string? GetFirstByLowestScoreFromSet(string key, double fromScore, double toScore) =>
        GetFirstByLowestScoreFromSet(key, fromScore, toScore, 1).FirstOrDefault();

    public override List<string> GetFirstByLowestScoreFromSet(string key, double fromScore, double toScore, int count)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (toScore < fromScore)
        {
            throw new ArgumentException("The toScore value must be greater than or equal to fromScore.", nameof(toScore));
        }

        if (count <= 0)
        {
            throw new ArgumentException("The count must be positive.", nameof(count));
        }

        return Database.Read(connection => connection.List(
            "SELECT value FROM set_entry WHERE key = $key AND score BETWEEN $from AND $to ORDER BY score, value LIMIT $count",
            reader => reader.GetString(0),
            ("$key", key),
            ("$from", fromScore),
            ("$to", toScore),
            ("$count", count)));
    }

    public override long GetSetCount(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Database.Read(connection => connection.Long("SELECT COUNT(*) FROM set_entry WHERE key = $key", ("$key", key)));
    }

    public override long GetSetCount(IEnumerable<string> keys, int limit)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var list = keys.ToList();
        if (list.Count == 0 || limit == 0)
        {
            return 0;
        }

        return Database.Read(connection =>
        {
            var values = new (string, object?)[list.Count + 1];
            values[0] = ("$limit", limit);
            for (var i = 0; i < list.Count; i++)
            {
                values[i + 1] = (JobRows.Numbered("$k", i), list[i]);
            }

            return connection.Long(
                $"SELECT COUNT(*) FROM (SELECT 1 FROM set_entry WHERE key IN ({string.Join(", ", list.Select((_, i) => "$k" + i))}) LIMIT $limit)",
                values);
        });
    }

    public override bool GetSetContains(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        return Database.Read(connection => connection.Long(
            "SELECT EXISTS (SELECT 1 FROM set_entry WHERE key = $key AND value = $value)",
            ("$key", key),
            ("$value", value)) == 1);
    }

    public override List<string> GetRangeFromSet(string key, int startingFrom, int endingAt)
    {
        ArgumentNullException.ThrowIfNull(key);
        CheckRange(startingFrom, endingAt);
        return Database.Read(connection => connection.List(
            "SELECT value FROM set_entry WHERE key = $key ORDER BY score, value LIMIT $count OFFSET $from",
            reader => reader.GetString(0),
            ("$key", key),
            ("$count", (long)endingAt - startingFrom + 1),
            ("$from", startingFrom)));
    }

    public override TimeSpan GetSetTtl(string key) => Ttl("SELECT MIN(expire_at) FROM set_entry WHERE key = $key", key);

    public override void SetRangeInHash(string key, IEnumerable<KeyValuePair<string, string>> keyValuePairs)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(keyValuePairs);
        var fields = keyValuePairs.ToList();
        Database.Write(connection => JobRows.SetHashFields(connection, key, fields));
    }

    public override Dictionary<string, string>? GetAllEntriesFromHash(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var rows = Database.Read(connection => connection.List(
            "SELECT field, value FROM hash_entry WHERE key = $key",
            reader => (Field: reader.GetString(0), Value: reader.NullableString(1)),
            ("$key", key)));
        return rows.Count == 0 ? null : rows.ToDictionary(r => r.Field, r => r.Value!, StringComparer.Ordinal);
    }

    public override string? GetValueFromHash(string key, string name)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(name);
        return Database.Read(connection => (string?)connection.Scalar(
            "SELECT value FROM hash_entry WHERE key = $key AND field = $field",
            ("$key", key),
            ("$field", name)));
    }

    public override long GetHashCount(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Database.Read(connection => connection.Long("SELECT COUNT(*) FROM hash_entry WHERE key = $key", ("$key", key)));
    }

    public override TimeSpan GetHashTtl(string key) => Ttl("SELECT MIN(expire_at) FROM hash_entry WHERE key = $key", key);

    public override long GetListCount(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Database.Read(connection => connection.Long("SELECT COUNT(*) FROM list_entry WHERE key = $key", ("$key", key)));
    }

    public override List<string> GetAllItemsFromList(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Database.Read(connection => connection.List(
            "SELECT value FROM list_entry WHERE key = $key ORDER BY id DESC",
            reader => reader.NullableString(0)!,
            ("$key", key)));
    }

    public override List<string> GetRangeFromList(string key, int startingFrom, int endingAt)
    {
        ArgumentNullException.ThrowIfNull(key);
        CheckRange(startingFrom, endingAt);
        return Database.Read(connection => connection.List(
            "SELECT value FROM list_entry WHERE key = $key ORDER BY id DESC LIMIT $count OFFSET $from",
            reader => reader.NullableString(0)!,
            ("$key", key),
            ("$count", (long)endingAt - startingFrom + 1),
            ("$from", startingFrom)));
    }

    public override TimeSpan GetListTtl(string key) => Ttl("SELECT MIN(expire_at) FROM list_entry WHERE key = $key", key);

    public override long GetCounter(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Database.Read(connection => Counter(connection, key));
    }

    internal static long Counter(SqliteConnection connection, string key) => connection.Long(
        """
        SELECT COALESCE((SELECT SUM(value) FROM counter WHERE key = $key), 0)
             + COALESCE((SELECT value FROM aggregated_counter WHERE key = $key), 0)
        """,
        ("$key", key));

    private TimeSpan Ttl(string sql, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return JobRows.Ttl(Database.Read(connection => (long?)connection.Scalar(sql, ("$key", key))));
    }

    private static void CheckRange(int startingFrom, int endingAt)
    {
        if (startingFrom < 0)
        {
            throw new ArgumentException("The start must not be negative.", nameof(startingFrom));
        }

        if (endingAt < startingFrom)
        {
            throw new ArgumentException("The end must not be before the start.", nameof(endingAt));
        }
    }
}

/// <summary>What a server announced, as stored in the server table.</summary>
internal sealed record ServerRow(int WorkerCount, string[] Queues, long StartedAt);
