using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Newsletter.Hangfire.Sqlite;

namespace Newsletter.Benchmarks.Jobs;

/// <summary>
/// The least a Hangfire storage on one SQLite file can write for a job: the four commits Hangfire asks of it (created and
/// enqueued, claimed, Processing, Succeeded with its three counters and the queue row gone), each one statement per row,
/// prepared once, on one thread and one connection, with the rows a real run of our storage wrote (read back from its file)
/// and the storage's own schema and settings. No Hangfire, no reads, no locks, no hand-over between threads: what is left is
/// what SQLite and the file system take for those rows, which no storage on this file can go under.
/// </summary>
internal static class JobsFloor
{
    public static (double Rate, double CpuUs, double Pages) Run(string sampleFile, string file, int jobs)
    {
        var sample = Sample.Read(sampleFile);

        // The storage makes the file: its schema, its indexes, WAL.
        using (new SqliteStorage(new SqliteStorageOptions { Path = file }))
        {
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
        connection.Open();
        Exec(connection, "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 16777216");

        var begin = Prepare(connection, "BEGIN IMMEDIATE");
        var commit = Prepare(connection, "COMMIT");
        var insertJob = Prepare(connection, "INSERT INTO job (invocation_data, created_at, expire_at) VALUES ($payload, $now, $expireAt) RETURNING id", "$payload", "$now", "$expireAt");
        var parameterNames = sample.Parameters.SelectMany((_, i) => new[] { $"$n{i}", $"$v{i}" }).Prepend("$jobId").ToArray();
        var insertParameters = Prepare(
            connection,
            "INSERT INTO job_parameter (job_id, name, value) VALUES " + string.Join(", ", sample.Parameters.Select((_, i) => $"($jobId, $n{i}, $v{i})")),
            parameterNames);
        var insertState = Prepare(connection, "INSERT INTO job_state (job_id, name, reason, created_at, data) VALUES ($jobId, $name, $reason, $now, $data) RETURNING id", "$jobId", "$name", "$reason", "$now", "$data");
        var setState = Prepare(connection, "UPDATE job SET state_id = $stateId, state_name = $name, expire_at = $expireAt WHERE id = $jobId", "$stateId", "$name", "$expireAt", "$jobId");
        var enqueue = Prepare(connection, "INSERT INTO job_queue (job_id, queue) VALUES ($jobId, 'default')", "$jobId");
        var claim = Prepare(
            connection,
            "UPDATE job_queue SET fetched_at = $now, fetch_token = $token WHERE id = (SELECT id FROM job_queue WHERE queue = 'default' AND fetched_at IS NULL ORDER BY id LIMIT 1) RETURNING id, job_id",
            "$now",
            "$token");
        var dequeue = Prepare(connection, "DELETE FROM job_queue WHERE id = $id", "$id");
        var count = Prepare(
            connection,
            """
            INSERT INTO aggregated_counter (key, value, expire_at) VALUES ('stats:succeeded', 1, NULL), ($day, 1, $dayExpiry), ($hour, 1, $hourExpiry)
            ON CONFLICT (key) DO UPDATE SET value = aggregated_counter.value + excluded.value,
                expire_at = CASE WHEN excluded.expire_at IS NULL THEN aggregated_counter.expire_at
                    WHEN aggregated_counter.expire_at IS NULL THEN excluded.expire_at
                    ELSE MAX(aggregated_counter.expire_at, excluded.expire_at) END
            """,
            "$day",
            "$dayExpiry",
            "$hour",
            "$hourExpiry");

        // Pages written to the WAL, counted by SQLite as the storage counts its own (SqliteStorageMetrics): from zero here.
        PagesWritten(connection);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        for (var n = 0; n < jobs; n++)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

            // 1. Created and enqueued, one transaction (as our storage writes Hangfire's create and its first state).
            begin.ExecuteNonQuery();
            var jobId = (long)Bind(insertJob, sample.Payload, now, now + 3_600_000).ExecuteScalar()!;
            insertParameters.Parameters[0].Value = jobId;
            for (var i = 0; i < sample.Parameters.Count; i++)
            {
                insertParameters.Parameters[1 + (2 * i)].Value = sample.Parameters[i].Name;
                insertParameters.Parameters[2 + (2 * i)].Value = sample.Parameters[i].Value;
            }

            insertParameters.ExecuteNonQuery();
            State(jobId, sample.Enqueued, null, now);
            Bind(enqueue, jobId).ExecuteNonQuery();
            commit.ExecuteNonQuery();

            // 2. Claimed.
            begin.ExecuteNonQuery();
            long queueRow;
            using (var reader = Bind(claim, now, Random.Shared.NextInt64(1, long.MaxValue)).ExecuteReader())
            {
                reader.Read();
                queueRow = reader.GetInt64(0);
            }

            commit.ExecuteNonQuery();

            // 3. Processing.
            begin.ExecuteNonQuery();
            State(jobId, sample.Processing, null, now);
            commit.ExecuteNonQuery();

            // 4. Succeeded: expires in a day, three counters, the queue row gone.
            begin.ExecuteNonQuery();
            State(jobId, sample.Succeeded, now + 86_400_000, now);
            var at = DateTime.UtcNow;
            Bind(count, $"stats:succeeded:{at:yyyy-MM-dd}", now + (long)TimeSpan.FromDays(31).TotalMilliseconds, $"stats:succeeded:{at:yyyy-MM-dd-HH}", now + 86_400_000).ExecuteNonQuery();
            Bind(dequeue, queueRow).ExecuteNonQuery();
            commit.ExecuteNonQuery();
        }

        watch.Stop();
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return (jobs / watch.Elapsed.TotalSeconds, used.TotalMicroseconds / jobs, (double)PagesWritten(connection) / jobs);

        void State(long jobId, (string Name, string? Reason, string Data) state, long? expireAt, long now)
        {
            var stateId = (long)Bind(insertState, jobId, state.Name, state.Reason, now, state.Data).ExecuteScalar()!;
            Bind(setState, stateId, state.Name, expireAt, jobId).ExecuteNonQuery();
        }
    }

    private static long PagesWritten(SqliteConnection connection)
    {
        SQLitePCL.raw.sqlite3_db_status(connection.Handle, SQLitePCL.raw.SQLITE_DBSTATUS_CACHE_WRITE, out var pages, out _, 1);
        return pages;
    }

    private static SqliteCommand Prepare(SqliteConnection connection, string sql, params string[] names)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in names)
        {
            command.Parameters.AddWithValue(name, DBNull.Value);
        }

        command.Prepare();
        return command;
    }

    private static SqliteCommand Bind(SqliteCommand command, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }

        return command;
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>The rows of the last job a run of our storage brought to Succeeded: its payload, parameters and states.</summary>
    private sealed record Sample(
        string Payload,
        List<(string Name, string? Value)> Parameters,
        (string Name, string? Reason, string Data) Enqueued,
        (string Name, string? Reason, string Data) Processing,
        (string Name, string? Reason, string Data) Succeeded)
    {
        public static Sample Read(string file)
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT id, invocation_data FROM job WHERE state_name = 'Succeeded' ORDER BY id DESC LIMIT 1";
            long id;
            string payload;
            using (var reader = command.ExecuteReader())
            {
                if (!reader.Read())
                {
                    throw new InvalidOperationException($"No succeeded job in {file} to take the rows from.");
                }

                id = reader.GetInt64(0);
                payload = reader.GetString(1);
            }

            command.CommandText = $"SELECT name, value FROM job_parameter WHERE job_id = {id} ORDER BY name";
            var parameters = new List<(string, string?)>();
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    parameters.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1)));
                }
            }

            command.CommandText = $"SELECT name, reason, data FROM job_state WHERE job_id = {id} ORDER BY id";
            var states = new Dictionary<string, (string, string?, string)>(StringComparer.Ordinal);
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    states[reader.GetString(0)] = (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? "{}" : reader.GetString(2));
                }
            }

            return new Sample(payload, parameters, states["Enqueued"], states["Processing"], states["Succeeded"]);
        }
    }
}
