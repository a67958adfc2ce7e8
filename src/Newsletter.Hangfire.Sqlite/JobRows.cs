using System.Text.Json;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>Statements shared by the connection (applied at once) and the transaction (applied at commit).</summary>
internal static class JobRows
{
    public static string Payload(Job job) => InvocationData.SerializeJob(job).SerializePayload();

    public static (Job? Job, InvocationData Data, JobLoadException? Error) Load(string payload)
    {
        var data = InvocationData.DeserializePayload(payload);
        try
        {
            return (data.DeserializeJob(), data, null);
        }
        catch (JobLoadException ex)
        {
            return (null, data, ex);
        }
    }

    public static long InsertJob(SqliteConnection connection, long? id, string payload, DateTime createdAt, TimeSpan expireIn, IDictionary<string, string?> parameters)
    {
        var jobId = connection.Long(
            "INSERT INTO job (id, invocation_data, created_at, expire_at) VALUES ($id, $payload, $createdAt, $expireAt) RETURNING id",
            ("$id", id),
            ("$payload", payload),
            ("$createdAt", UnixMs.From(createdAt)),
            ("$expireAt", UnixMs.From(createdAt) + (long)expireIn.TotalMilliseconds));
        if (parameters.Count > 0)
        {
            // One statement for all of them (Hangfire adds two or three to every job).
            var list = parameters.ToList();
            var values = new (string, object?)[1 + (2 * list.Count)];
            values[0] = ("$jobId", jobId);
            for (var i = 0; i < list.Count; i++)
            {
                values[1 + (2 * i)] = (Numbered("$n", i), list[i].Key);
                values[2 + (2 * i)] = (Numbered("$v", i), list[i].Value);
            }

            // The same text for the same number of parameters, so the connection keeps it like any other.
            connection.Execute(
                "INSERT INTO job_parameter (job_id, name, value) VALUES " + string.Join(", ", list.Select((_, i) => $"($jobId, $n{i}, $v{i})")),
                values);
        }

        return jobId;
    }

    /// <summary>
    /// How increments join their key's row in <c>aggregated_counter</c>, after an <c>INSERT</c> of (key, value, expire_at):
    /// values add up, and the later expiry wins over an earlier one and over none. Increments and the aggregator that folds
    /// an earlier version's rows both merge this way.
    /// </summary>
    public const string MergeIntoCounter = """
        ON CONFLICT (key) DO UPDATE SET
            value = aggregated_counter.value + excluded.value,
            expire_at = CASE
                WHEN excluded.expire_at IS NULL THEN aggregated_counter.expire_at
                WHEN aggregated_counter.expire_at IS NULL THEN excluded.expire_at
                ELSE MAX(aggregated_counter.expire_at, excluded.expire_at) END
        """;

    /// <summary>A numbered parameter name ($n0, $n1...) for a statement with one group of values per row.</summary>
    public static string Numbered(string prefix, int i) => prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Takes <paramref name="count"/> ids from the job table's AUTOINCREMENT sequence ahead of their inserts and returns the
    /// last; ids of a block never used are simply skipped, and no id is ever handed out twice.
    /// </summary>
    public static long ReserveJobIds(SqliteDatabase database, int count) =>
        database.Write(connection => connection.Long("UPDATE sqlite_sequence SET seq = seq + $count WHERE name = 'job' RETURNING seq", ("$count", count)));

    /// <summary>A job created but not yet written: its insert goes with the next write transaction of the connection that created it.</summary>
    public sealed record CreatedJob(long Id, string Payload, DateTime CreatedAt, TimeSpan ExpireIn, Dictionary<string, string?> Parameters)
    {
        public void Insert(SqliteConnection connection) => InsertJob(connection, Id, Payload, CreatedAt, ExpireIn, Parameters);
    }

    public static void SetParameter(SqliteConnection connection, long jobId, string name, string? value) => connection.Execute(
        """
        INSERT INTO job_parameter (job_id, name, value) SELECT $jobId, $name, $value WHERE EXISTS (SELECT 1 FROM job WHERE id = $jobId)
        ON CONFLICT (job_id, name) DO UPDATE SET value = excluded.value
        """,
        ("$jobId", jobId),
        ("$name", name),
        ("$value", value));

    /// <summary>A state captured when it is set, not at commit: a state's data may change or its serializer may throw later.</summary>
    public sealed record StateRow(string Name, string? Reason, string Data, long CreatedAt)
    {
        public static StateRow From(IState state)
        {
            ArgumentNullException.ThrowIfNull(state);
            if (state.Name is null)
            {
                throw new ArgumentException("The state's Name must not be null.", nameof(state));
            }

            return new StateRow(state.Name, state.Reason, JsonSerializer.Serialize(state.SerializeData() ?? new Dictionary<string, string>()), UnixMs.Now());
        }
    }

    public static long? InsertState(SqliteConnection connection, long jobId, StateRow state) => (long?)connection.Scalar(
        """
        INSERT INTO job_state (job_id, name, reason, created_at, data)
        SELECT $jobId, $name, $reason, $createdAt, $data WHERE EXISTS (SELECT 1 FROM job WHERE id = $jobId)
        RETURNING id
        """,
        ("$jobId", jobId),
        ("$name", state.Name),
        ("$reason", state.Reason),
        ("$createdAt", state.CreatedAt),
        ("$data", state.Data));

    public static Dictionary<string, string> StateData(string? json) =>
        new(json is null ? [] : JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [], StringComparer.OrdinalIgnoreCase);

    public static void SetHashFields(SqliteConnection connection, string key, IEnumerable<KeyValuePair<string, string>> fields)
    {
        foreach (var (field, value) in fields)
        {
            // A new field joins the hash's expiry, so the hash expires as a whole.
            connection.Execute(
                """
                INSERT INTO hash_entry (key, field, value, expire_at) VALUES ($key, $field, $value, (SELECT expire_at FROM hash_entry WHERE key = $key LIMIT 1))
                ON CONFLICT (key, field) DO UPDATE SET value = excluded.value
                """,
                ("$key", key),
                ("$field", field),
                ("$value", value));
        }
    }

    public static TimeSpan Ttl(long? expireAt)
    {
        if (expireAt is null)
        {
            return Timeout.InfiniteTimeSpan;
        }

        var left = TimeSpan.FromMilliseconds(expireAt.Value - UnixMs.Now());
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }
}
