using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// Collects Hangfire's commands and applies them at <see cref="Commit"/> in one immediate SQLite transaction: all of them
/// or none. Every value is captured when the command is added, so a retry of the whole transaction replays exactly the same
/// statements.
/// </summary>
internal sealed class SqliteJobStorageTransaction : JobStorageTransaction
{
    private readonly SqliteStorage _storage;
    private readonly SqliteJobStorageConnection _connection;
    private readonly List<Action<SqliteConnection>> _commands = [];
    private readonly List<SqliteFetchedJob> _acknowledged = [];
    private readonly List<IDisposable> _locks = [];

    // Hangfire sets a job's state and then expires or persists the job: the job row is written once, by the state's update,
    // with the expiry last asked for. Counter increments (three for a succeeded job) are added to their keys' rows in one
    // statement.
    private readonly HashSet<long> _stateSet = [];
    private readonly Dictionary<long, long?> _expiry = [];
    private readonly List<(string Key, long Value, long? ExpireAt)> _counters = [];
    private bool _enqueues;
    private bool _committed;

    public SqliteJobStorageTransaction(SqliteStorage storage, SqliteJobStorageConnection connection)
    {
        _storage = storage;
        _connection = connection;
    }

    public override void Commit()
    {
        if (_committed)
        {
            throw new InvalidOperationException("This transaction was already committed.");
        }

        // Jobs this transaction's connection created are written first, in the same transaction: Hangfire creates a job and
        // then sets its first state, and the two become one write.
        var created = _connection.CreatedJobs();
        try
        {
            _storage.Database.Write(connection =>
            {
                foreach (var job in created)
                {
                    job.Insert(connection);
                }

                foreach (var command in _commands)
                {
                    command(connection);
                }
            });
            _committed = true;
            _connection.Written(created);
        }
        finally
        {
            ReleaseLocks();
        }

        foreach (var fetched in _acknowledged)
        {
            fetched.AcknowledgedInTransaction();
        }

        if (_enqueues)
        {
            _storage.SignalJobEnqueued();
        }
    }

    public override void Dispose()
    {
        ReleaseLocks();
        base.Dispose();
    }

    public override void AcquireDistributedLock(string resource, TimeSpan timeout) =>
        _locks.Add(_connection.AcquireDistributedLock(resource, timeout));

    public override string CreateJob(Job job, IDictionary<string, string> parameters, DateTime createdAt, TimeSpan expireIn)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(parameters);
        var payload = JobRows.Payload(job);
        var snapshot = parameters.ToDictionary(p => p.Key, p => (string?)p.Value);

        // The caller needs the id before commit (later commands in this transaction name it), so it is drawn from the
        // sequence now; if the transaction never commits, the id is simply skipped.
        var id = _storage.NextJobId();
        _commands.Add(c => JobRows.InsertJob(c, id, payload, createdAt, expireIn, snapshot));
        return UnixMs.Id(id);
    }

    public override void SetJobParameter(string jobId, string name, string value)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        ArgumentNullException.ThrowIfNull(name);
        if (UnixMs.TryParseId(jobId, out var id))
        {
            _commands.Add(c => JobRows.SetParameter(c, id, name, value));
        }
    }

    public override void ExpireJob(string jobId, TimeSpan expireIn)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        if (UnixMs.TryParseId(jobId, out var id))
        {
            SetExpiry(id, UnixMs.After(expireIn));
        }
    }

    public override void PersistJob(string jobId)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        if (UnixMs.TryParseId(jobId, out var id))
        {
            SetExpiry(id, null);
        }
    }

    public override void SetJobState(string jobId, IState state)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        var row = JobRows.StateRow.From(state);
        if (UnixMs.TryParseId(jobId, out var id))
        {
            _stateSet.Add(id);
            _commands.Add(c =>
            {
                if (JobRows.InsertState(c, id, row) is { } stateId)
                {
                    // Run at commit, when every expiry of this transaction is known.
                    var expires = _expiry.TryGetValue(id, out var expireAt);
                    c.Execute(
                        "UPDATE job SET state_id = $stateId, state_name = $name, expire_at = CASE WHEN $expires THEN $expireAt ELSE expire_at END WHERE id = $id",
                        ("$stateId", stateId),
                        ("$name", row.Name),
                        ("$expires", expires),
                        ("$expireAt", expireAt),
                        ("$id", id));
                }
            });
        }
    }

    public override void AddJobState(string jobId, IState state)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        var row = JobRows.StateRow.From(state);
        if (UnixMs.TryParseId(jobId, out var id))
        {
            _commands.Add(c => JobRows.InsertState(c, id, row));
        }
    }

    public override void AddToQueue(string queue, string jobId)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(jobId);
        if (UnixMs.TryParseId(jobId, out var id))
        {
            _commands.Add(c => c.Execute("INSERT INTO job_queue (job_id, queue) VALUES ($jobId, $queue)", ("$jobId", id), ("$queue", queue)));
            _enqueues = true;
        }
    }

    public override void RemoveFromQueue(IFetchedJob fetchedJob)
    {
        ArgumentNullException.ThrowIfNull(fetchedJob);
        if (fetchedJob is not SqliteFetchedJob fetched)
        {
            throw JobStorageFeatures.GetNotSupportedException(JobStorageFeatures.Transaction.RemoveFromQueue(fetchedJob.GetType()));
        }

        _commands.Add(c => fetched.Delete(c));
        _acknowledged.Add(fetched);
    }

    public override void IncrementCounter(string key) => AddCounter(key, 1, null);

    public override void IncrementCounter(string key, TimeSpan expireIn) => AddCounter(key, 1, expireIn);

    public override void DecrementCounter(string key) => AddCounter(key, -1, null);

    public override void DecrementCounter(string key, TimeSpan expireIn) => AddCounter(key, -1, expireIn);

    public override void AddToSet(string key, string value) => AddToSet(key, value, 0.0);

    public override void AddToSet(string key, string value, double score)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        _commands.Add(c => UpsertSetItem(c, key, value, score));
    }

    public override void AddRangeToSet(string key, IList<string> items)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(items);
        if (items.Any(item => item is null))
        {
            throw new ArgumentException("The items must not contain null.", nameof(items));
        }

        var copy = items.ToList();
        _commands.Add(c =>
        {
            foreach (var item in copy)
            {
                UpsertSetItem(c, key, item, 0.0);
            }
        });
    }

    public override void RemoveFromSet(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        _commands.Add(c => c.Execute("DELETE FROM set_entry WHERE key = $key AND value = $value", ("$key", key), ("$value", value)));
    }

    public override void RemoveSet(string key) => ForKey("DELETE FROM set_entry WHERE key = $key", key);

    public override void ExpireSet(string key, TimeSpan expireIn) => Expire("set_entry", key, expireIn);

    public override void PersistSet(string key) => Expire("set_entry", key, null);

    public override void InsertToList(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        _commands.Add(c => c.Execute(
            "INSERT INTO list_entry (key, value, expire_at) VALUES ($key, $value, (SELECT expire_at FROM list_entry WHERE key = $key LIMIT 1))",
            ("$key", key),
            ("$value", value)));
    }

    public override void RemoveFromList(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        _commands.Add(c => c.Execute("DELETE FROM list_entry WHERE key = $key AND value = $value", ("$key", key), ("$value", value)));
    }

    /// <summary>Keeps the items from position <paramref name="keepStartingFrom"/> to <paramref name="keepEndingAt"/>, newest first, both inclusive.</summary>
    public override void TrimList(string key, int keepStartingFrom, int keepEndingAt)
    {
        ArgumentNullException.ThrowIfNull(key);
        var from = Math.Max(0, keepStartingFrom);
        var count = (long)keepEndingAt - from + 1;
        if (count <= 0)
        {
            ForKey("DELETE FROM list_entry WHERE key = $key", key);
            return;
        }

        _commands.Add(c => c.Execute(
            "DELETE FROM list_entry WHERE key = $key AND id NOT IN (SELECT id FROM list_entry WHERE key = $key ORDER BY id DESC LIMIT $count OFFSET $from)",
            ("$key", key),
            ("$count", count),
            ("$from", from)));
    }

    public override void ExpireList(string key, TimeSpan expireIn) => Expire("list_entry", key, expireIn);

    public override void PersistList(string key) => Expire("list_entry", key, null);

    public override void SetRangeInHash(string key, IEnumerable<KeyValuePair<string, string>> keyValuePairs)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(keyValuePairs);
        var fields = keyValuePairs.ToList();
        _commands.Add(c => JobRows.SetHashFields(c, key, fields));
    }

    public override void RemoveHash(string key) => ForKey("DELETE FROM hash_entry WHERE key = $key", key);

    public override void ExpireHash(string key, TimeSpan expireIn) => Expire("hash_entry", key, expireIn);

    public override void PersistHash(string key) => Expire("hash_entry", key, null);

    private static void UpsertSetItem(SqliteConnection c, string key, string value, double score) => c.Execute(
        """
        INSERT INTO set_entry (key, value, score, expire_at) VALUES ($key, $value, $score, (SELECT expire_at FROM set_entry WHERE key = $key LIMIT 1))
        ON CONFLICT (key, value) DO UPDATE SET score = excluded.score
        """,
        ("$key", key),
        ("$value", value),
        ("$score", score));

    private void SetExpiry(long id, long? expireAt)
    {
        // The last expiry asked for wins, as it would applied one by one. A job whose state this transaction also sets gets
        // it from that update; otherwise it takes a statement of its own, at the place of the first request.
        var first = !_expiry.ContainsKey(id);
        _expiry[id] = expireAt;
        if (first)
        {
            _commands.Add(c =>
            {
                if (!_stateSet.Contains(id))
                {
                    c.Execute("UPDATE job SET expire_at = $expireAt WHERE id = $id", ("$expireAt", _expiry[id]), ("$id", id));
                }
            });
        }
    }

    private void AddCounter(string key, long value, TimeSpan? expireIn)
    {
        ArgumentNullException.ThrowIfNull(key);
        long? expireAt = expireIn is { } span ? UnixMs.After(span) : null;
        if (_counters.Count == 0)
        {
            _commands.Add(AddToCounters);
        }

        _counters.Add((key, value, expireAt));
    }

    /// <summary>
    /// Adds the transaction's increments straight to each key's one row. Storages for servers that lock rows insert a row
    /// per increment so that concurrent increments never wait for each other, and fold them later; SQLite has one writer
    /// at a time anyway, and the row per increment cost a succeeded job about four more pages written (the counter table,
    /// its two indexes, and the AUTOINCREMENT sequence), and the aggregator's writes later to fold and delete them. The merge is
    /// the aggregator's (<see cref="JobRows.MergeIntoCounter"/>).
    /// </summary>
    private void AddToCounters(SqliteConnection connection)
    {
        const int RowsPerStatement = 250;
        var keys = _counters
            .GroupBy(c => c.Key, StringComparer.Ordinal)
            .Select(g => (Key: g.Key, Value: g.Sum(c => c.Value), ExpireAt: g.Max(c => c.ExpireAt)))
            .ToList();
        for (var start = 0; start < keys.Count; start += RowsPerStatement)
        {
            var rows = keys.Skip(start).Take(RowsPerStatement).ToList();
            var values = new (string, object?)[3 * rows.Count];
            for (var i = 0; i < rows.Count; i++)
            {
                values[3 * i] = (JobRows.Numbered("$k", i), rows[i].Key);
                values[(3 * i) + 1] = (JobRows.Numbered("$v", i), rows[i].Value);
                values[(3 * i) + 2] = (JobRows.Numbered("$e", i), rows[i].ExpireAt);
            }

            var zero = connection.List(
                "INSERT INTO aggregated_counter (key, value, expire_at) VALUES "
                + string.Join(", ", rows.Select((_, i) => $"($k{i}, $v{i}, $e{i})"))
                + "\n" + JobRows.MergeIntoCounter + "\nRETURNING key, value",
                reader => reader.GetInt64(1) == 0 ? reader.GetString(0) : null,
                values);

            // A key back at zero keeps no row, as after aggregation; rare (a decrement), so a statement of its own.
            foreach (var key in zero.OfType<string>())
            {
                connection.Execute("DELETE FROM aggregated_counter WHERE key = $key AND value = 0", ("$key", key));
            }
        }
    }

    private void ForKey(string sql, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        _commands.Add(c => c.Execute(sql, ("$key", key)));
    }

    private void Expire(string table, string key, TimeSpan? expireIn)
    {
        ArgumentNullException.ThrowIfNull(key);
        long? expireAt = expireIn is { } span ? UnixMs.After(span) : null;

        // The table name comes from this class's own constants, never from a caller.
        _commands.Add(c => c.Execute($"UPDATE {table} SET expire_at = $expireAt WHERE key = $key", ("$expireAt", expireAt), ("$key", key)));
    }

    private void ReleaseLocks()
    {
        foreach (var held in _locks)
        {
            held.Dispose();
        }

        _locks.Clear();
    }
}
