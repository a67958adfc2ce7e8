using System.Globalization;
using System.Text.Json;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Hangfire.Storage.Monitoring;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// What the Dashboard reads. Each call runs in one read transaction, so the numbers on a page come from one snapshot.
/// Lists by state follow the order of the state change: oldest first for work still to do, newest first for finished work.
/// </summary>
internal sealed class SqliteMonitoringApi : JobStorageMonitor
{
    private readonly SqliteStorage _storage;

    public SqliteMonitoringApi(SqliteStorage storage) => _storage = storage;

    private long VisibleBefore => _storage.VisibleBefore(UnixMs.Now());

    public override IList<QueueWithTopEnqueuedJobsDto> Queues() => Read(connection =>
    {
        var visibleBefore = VisibleBefore;
        var queues = connection.List(
            """
            SELECT queue,
                   SUM(CASE WHEN fetched_at IS NULL OR fetched_at < $visibleBefore THEN 1 ELSE 0 END),
                   SUM(CASE WHEN fetched_at IS NULL OR fetched_at < $visibleBefore THEN 0 ELSE 1 END)
            FROM job_queue GROUP BY queue ORDER BY queue
            """,
            reader => (Name: reader.GetString(0), Enqueued: reader.GetInt64(1), Fetched: reader.GetInt64(2)),
            ("$visibleBefore", visibleBefore));
        return (IList<QueueWithTopEnqueuedJobsDto>)queues.Select(q => new QueueWithTopEnqueuedJobsDto
        {
            Name = q.Name,
            Length = q.Enqueued,
            Fetched = q.Fetched,
            FirstJobs = Enqueued(connection, q.Name, 0, 5, visibleBefore),
        }).ToList();
    });

    public override IList<ServerDto> Servers() => Read(connection => (IList<ServerDto>)connection.List(
        "SELECT id, data, last_heartbeat FROM server ORDER BY id",
        reader =>
        {
            var data = JsonSerializer.Deserialize<ServerRow>(reader.GetString(1))!;
            return new ServerDto
            {
                Name = reader.GetString(0),
                WorkersCount = data.WorkerCount,
                Queues = data.Queues,
                StartedAt = UnixMs.ToDateTime(data.StartedAt),
                Heartbeat = UnixMs.ToDateTime(reader.GetInt64(2)),
            };
        }));

    public override JobDetailsDto? JobDetails(string jobId)
    {
        ArgumentNullException.ThrowIfNull(jobId);
        if (!UnixMs.TryParseId(jobId, out var id))
        {
            return null;
        }

        return Read(connection =>
        {
            var jobs = connection.List(
                "SELECT invocation_data, created_at, expire_at FROM job WHERE id = $id",
                reader => (Payload: reader.GetString(0), CreatedAt: reader.GetInt64(1), ExpireAt: reader.NullableLong(2)),
                ("$id", id));
            if (jobs.Count == 0)
            {
                return null;
            }

            var (job, data, error) = JobRows.Load(jobs[0].Payload);
            return new JobDetailsDto
            {
                Job = job,
                InvocationData = data,
                LoadException = error,
                CreatedAt = UnixMs.ToDateTime(jobs[0].CreatedAt),
                ExpireAt = jobs[0].ExpireAt is { } expireAt ? UnixMs.ToDateTime(expireAt) : null,
                Properties = connection.List(
                    "SELECT name, value FROM job_parameter WHERE job_id = $id",
                    reader => (Name: reader.GetString(0), Value: reader.NullableString(1)),
                    ("$id", id)).ToDictionary(p => p.Name, p => p.Value!, StringComparer.OrdinalIgnoreCase),
                History = connection.List(
                    "SELECT name, reason, created_at, data FROM job_state WHERE job_id = $id ORDER BY id DESC",
                    reader => new StateHistoryDto
                    {
                        StateName = reader.GetString(0),
                        Reason = reader.NullableString(1),
                        CreatedAt = UnixMs.ToDateTime(reader.GetInt64(2)),
                        Data = JobRows.StateData(reader.NullableString(3)),
                    },
                    ("$id", id)),
            };
        });
    }

    public override StatisticsDto GetStatistics() => Read(connection =>
    {
        var states = connection.List(
            "SELECT state_name, COUNT(*) FROM job WHERE state_name IN ('Enqueued', 'Scheduled', 'Processing', 'Failed', 'Awaiting') GROUP BY state_name",
            reader => (Name: reader.GetString(0), Count: reader.GetInt64(1))).ToDictionary(s => s.Name, s => s.Count, StringComparer.OrdinalIgnoreCase);
        return new StatisticsDto
        {
            Enqueued = states.GetValueOrDefault(EnqueuedState.StateName),
            Scheduled = states.GetValueOrDefault(ScheduledState.StateName),
            Processing = states.GetValueOrDefault(ProcessingState.StateName),
            Failed = states.GetValueOrDefault(FailedState.StateName),
            Awaiting = states.GetValueOrDefault(AwaitingState.StateName),
            Succeeded = SqliteJobStorageConnection.Counter(connection, "stats:succeeded"),
            Deleted = SqliteJobStorageConnection.Counter(connection, "stats:deleted"),
            Servers = connection.Long("SELECT COUNT(*) FROM server"),
            Queues = connection.Long("SELECT COUNT(DISTINCT queue) FROM job_queue"),
            Recurring = connection.Long("SELECT COUNT(*) FROM set_entry WHERE key = 'recurring-jobs'"),
            Retries = connection.Long("SELECT COUNT(*) FROM set_entry WHERE key = 'retries'"),
        };
    });

    public override JobList<EnqueuedJobDto> EnqueuedJobs(string queue, int from, int perPage)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return Read(connection => Enqueued(connection, queue, from, perPage, VisibleBefore));
    }

    public override JobList<FetchedJobDto> FetchedJobs(string queue, int from, int perPage)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return Read(connection => new JobList<FetchedJobDto>(connection.List(
            """
            SELECT q.job_id, j.invocation_data, j.state_name, q.fetched_at
            FROM job_queue q LEFT JOIN job j ON j.id = q.job_id
            WHERE q.queue = $queue AND q.fetched_at >= $visibleBefore
            ORDER BY q.id LIMIT $count OFFSET $from
            """,
            reader =>
            {
                var (job, data, error) = LoadNullable(reader.NullableString(1));
                return new KeyValuePair<string, FetchedJobDto>(UnixMs.Id(reader.GetInt64(0)), new FetchedJobDto
                {
                    Job = job,
                    InvocationData = data,
                    LoadException = error,
                    State = reader.NullableString(2),
                    FetchedAt = UnixMs.ToDateTime(reader.GetInt64(3)),
                });
            },
            ("$queue", queue),
            ("$visibleBefore", VisibleBefore),
            ("$count", perPage),
            ("$from", from))));
    }

    public override JobList<ProcessingJobDto> ProcessingJobs(int from, int count) =>
        ByState(ProcessingState.StateName, from, count, newestFirst: false, row => new ProcessingJobDto
        {
            Job = row.Job,
            InvocationData = row.Data,
            LoadException = row.Error,
            InProcessingState = true,
            StateData = row.StateData,
            StartedAt = row.StateAt,
            ServerId = row.StateData.GetValueOrDefault("ServerId"),
        });

    public override JobList<ScheduledJobDto> ScheduledJobs(int from, int count) =>
        ByState(ScheduledState.StateName, from, count, newestFirst: false, row => new ScheduledJobDto
        {
            Job = row.Job,
            InvocationData = row.Data,
            LoadException = row.Error,
            InScheduledState = true,
            StateData = row.StateData,
            ScheduledAt = row.StateAt,
            EnqueueAt = JobHelper.DeserializeNullableDateTime(row.StateData.GetValueOrDefault("EnqueueAt")) ?? DateTime.MinValue,
        });

    public override JobList<SucceededJobDto> SucceededJobs(int from, int count) =>
        ByState(SucceededState.StateName, from, count, newestFirst: true, row => new SucceededJobDto
        {
            Job = row.Job,
            InvocationData = row.Data,
            LoadException = row.Error,
            InSucceededState = true,
            StateData = row.StateData,
            SucceededAt = row.StateAt,
            Result = row.StateData.GetValueOrDefault("Result"),
            TotalDuration = row.StateData.TryGetValue("PerformanceDuration", out var duration) && row.StateData.TryGetValue("Latency", out var latency)
                ? long.Parse(duration, CultureInfo.InvariantCulture) + long.Parse(latency, CultureInfo.InvariantCulture)
                : null,
        });

    public override JobList<FailedJobDto> FailedJobs(int from, int count) =>
        ByState(FailedState.StateName, from, count, newestFirst: true, row => new FailedJobDto
        {
            Job = row.Job,
            InvocationData = row.Data,
            LoadException = row.Error,
            InFailedState = true,
            StateData = row.StateData,
            Reason = row.Reason,
            FailedAt = row.StateAt,
            ExceptionDetails = row.StateData.GetValueOrDefault("ExceptionDetails"),
            ExceptionType = row.StateData.GetValueOrDefault("ExceptionType"),
            ExceptionMessage = row.StateData.GetValueOrDefault("ExceptionMessage"),
        });

    public override JobList<DeletedJobDto> DeletedJobs(int from, int count) =>
        ByState(DeletedState.StateName, from, count, newestFirst: true, row => new DeletedJobDto
        {
            Job = row.Job,
            InvocationData = row.Data,
            LoadException = row.Error,
            InDeletedState = true,
            StateData = row.StateData,
            DeletedAt = row.StateAt,
        });

    public override JobList<AwaitingJobDto> AwaitingJobs(int from, int count) => Read(connection =>
    {
        var rows = StateRows(connection, AwaitingState.StateName, from, count, newestFirst: false);
        var parents = new Dictionary<long, string?>();
        foreach (var row in rows)
        {
            if (UnixMs.TryParseId(row.StateData.GetValueOrDefault("ParentId"), out var parentId) && !parents.ContainsKey(parentId))
            {
                parents[parentId] = (string?)connection.Scalar("SELECT state_name FROM job WHERE id = $id", ("$id", parentId));
            }
        }

        return new JobList<AwaitingJobDto>(rows.Select(row => new KeyValuePair<string, AwaitingJobDto>(row.Id, new AwaitingJobDto
        {
            Job = row.Job,
            InvocationData = row.Data,
            LoadException = row.Error,
            InAwaitingState = true,
            StateData = row.StateData,
            AwaitingAt = row.StateAt,
            ParentStateName = UnixMs.TryParseId(row.StateData.GetValueOrDefault("ParentId"), out var parentId) ? parents.GetValueOrDefault(parentId) : null,
        })));
    });

    public override long ScheduledCount() => CountByState(ScheduledState.StateName);

    public override long FailedCount() => CountByState(FailedState.StateName);

    public override long ProcessingCount() => CountByState(ProcessingState.StateName);

    public override long SucceededListCount() => CountByState(SucceededState.StateName);

    public override long DeletedListCount() => CountByState(DeletedState.StateName);

    public override long AwaitingCount() => CountByState(AwaitingState.StateName);

    public override long EnqueuedCount(string queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return Read(connection => connection.Long(
            "SELECT COUNT(*) FROM job_queue WHERE queue = $queue AND (fetched_at IS NULL OR fetched_at < $visibleBefore)",
            ("$queue", queue),
            ("$visibleBefore", VisibleBefore)));
    }

    public override long FetchedCount(string queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return Read(connection => connection.Long(
            "SELECT COUNT(*) FROM job_queue WHERE queue = $queue AND fetched_at >= $visibleBefore",
            ("$queue", queue),
            ("$visibleBefore", VisibleBefore)));
    }

    public override IDictionary<DateTime, long> SucceededByDatesCount() => Daily("succeeded");

    public override IDictionary<DateTime, long> FailedByDatesCount() => Daily("failed");

    public override IDictionary<DateTime, long> DeletedByDatesCount() => Daily("deleted");

    public override IDictionary<DateTime, long> HourlySucceededJobs() => Hourly("succeeded");

    public override IDictionary<DateTime, long> HourlyFailedJobs() => Hourly("failed");

    public override IDictionary<DateTime, long> HourlyDeletedJobs() => Hourly("deleted");

    private static (Job? Job, InvocationData? Data, JobLoadException? Error) LoadNullable(string? payload) =>
        payload is null ? (null, null, null) : JobRows.Load(payload);

    private static JobList<EnqueuedJobDto> Enqueued(SqliteConnection connection, string queue, int from, int count, long visibleBefore) =>
        new(connection.List(
            """
            SELECT q.job_id, j.invocation_data, j.state_name, s.created_at, s.data
            FROM job_queue q LEFT JOIN job j ON j.id = q.job_id LEFT JOIN job_state s ON s.id = j.state_id
            WHERE q.queue = $queue AND (q.fetched_at IS NULL OR q.fetched_at < $visibleBefore)
            ORDER BY q.id LIMIT $count OFFSET $from
            """,
            reader =>
            {
                var (job, data, error) = LoadNullable(reader.NullableString(1));
                var state = reader.NullableString(2);
                var inState = string.Equals(state, EnqueuedState.StateName, StringComparison.OrdinalIgnoreCase);
                return new KeyValuePair<string, EnqueuedJobDto>(UnixMs.Id(reader.GetInt64(0)), new EnqueuedJobDto
                {
                    Job = job,
                    InvocationData = data,
                    LoadException = error,
                    State = state,
                    InEnqueuedState = inState,
                    EnqueuedAt = inState && reader.NullableLong(3) is { } at ? UnixMs.ToDateTime(at) : null,
                    StateData = inState ? JobRows.StateData(reader.NullableString(4)) : null,
                });
            },
            ("$queue", queue),
            ("$visibleBefore", visibleBefore),
            ("$count", count),
            ("$from", from)));

    private sealed record StateRow(string Id, Job? Job, InvocationData Data, JobLoadException? Error, string? Reason, DateTime StateAt, Dictionary<string, string> StateData);

    private static List<StateRow> StateRows(SqliteConnection connection, string state, int from, int count, bool newestFirst) => connection.List(
        $"""
        SELECT j.id, j.invocation_data, s.reason, s.created_at, s.data
        FROM job j JOIN job_state s ON s.id = j.state_id
        WHERE j.state_name = $state
        ORDER BY j.state_id {(newestFirst ? "DESC" : "ASC")} LIMIT $count OFFSET $from
        """,
        reader =>
        {
            var (job, data, error) = JobRows.Load(reader.GetString(1));
            return new StateRow(UnixMs.Id(reader.GetInt64(0)), job, data, error, reader.NullableString(2), UnixMs.ToDateTime(reader.GetInt64(3)), JobRows.StateData(reader.NullableString(4)));
        },
        ("$state", state),
        ("$count", count),
        ("$from", from));

    private JobList<T> ByState<T>(string state, int from, int count, bool newestFirst, Func<StateRow, T> map) => Read(connection =>
        new JobList<T>(StateRows(connection, state, from, count, newestFirst).Select(row => new KeyValuePair<string, T>(row.Id, map(row)))));

    private long CountByState(string state) =>
        Read(connection => connection.Long("SELECT COUNT(*) FROM job WHERE state_name = $state", ("$state", state)));

    private Dictionary<DateTime, long> Daily(string type)
    {
        var today = DateTime.UtcNow.Date;
        var dates = Enumerable.Range(0, 7).Select(i => today.AddDays(-i)).ToList();
        return Timeline(dates, date => $"stats:{type}:{date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}");
    }

    private Dictionary<DateTime, long> Hourly(string type)
    {
        var now = DateTime.UtcNow;
        var hours = Enumerable.Range(0, 24).Select(i => now.AddHours(-i)).ToList();
        return Timeline(hours, hour => $"stats:{type}:{hour.ToString("yyyy-MM-dd-HH", CultureInfo.InvariantCulture)}");
    }

    private Dictionary<DateTime, long> Timeline(List<DateTime> points, Func<DateTime, string> key) =>
        Read(connection => points.ToDictionary(point => point, point => SqliteJobStorageConnection.Counter(connection, key(point))));

    private T Read<T>(Func<SqliteConnection, T> query) => _storage.Database.Read(connection =>
    {
        using var snapshot = connection.Snapshot();
        return query(connection);
    });
}
