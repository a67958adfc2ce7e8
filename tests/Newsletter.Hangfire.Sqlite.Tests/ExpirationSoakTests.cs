using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>Expired rows are deleted in batches by a background process; the file reuses the freed pages instead of growing.</summary>
[Collection(HeavyTests.Name)]
public sealed class ExpirationSoakTests : IDisposable
{
    private static readonly string[] Tables = ["job", "job_parameter", "job_state", "job_queue", "counter", "aggregated_counter", "set_entry", "list_entry", "hash_entry"];
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task FiftyThousandJobsThatExpireInASecondAllGoAndTheFileLevelsOff()
    {
        using var storage = _folder.OpenStorage(o =>
        {
            o.JobExpirationCheckInterval = TimeSpan.FromSeconds(1);
            o.CountersAggregateInterval = TimeSpan.FromSeconds(1);
            o.ExpirationBatchSize = 1000;
        });
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 1, ServerName = "soak" }, storage);
        var sizes = new List<long>();
        var parts = new List<string>();
        for (var round = 0; round < 5; round++)
        {
            AddExpiringJobs(storage, 10_000, $"round{round}");
            await Eventually.TrueAsync(() => RowsLeft() == 0, TimeSpan.FromMinutes(2), () => $"round {round}: {RowsLeft()} rows left ({Breakdown()})");
            sizes.Add(FileSize());
            parts.Add($"{new FileInfo(_folder.Db).Length}+{WalSize()}");
        }

        // A leak would add a round's worth of pages each time (the first round alone made the file what it is
        // after it); reuse keeps the last rounds level. On a loaded machine the file can still grow in a late
        // round (a checkpoint held off by readers appends pages the freed ones would have served; seen in CI in
        // round 4 of 5), so "level" is either the last three rounds within a quarter, or the last round adding
        // under a tenth of the first round's size, where a leak would add about all of it.
        Assert.True(sizes[^1] <= sizes[^3] * 1.25 || sizes[^1] - sizes[^2] < sizes[0] / 10,
            $"file sizes after each round: {string.Join(", ", sizes)} (file+WAL: {string.Join(", ", parts)})");
        Assert.True(Db.Scalar(_folder.Db, "SELECT seq FROM sqlite_sequence WHERE name = 'job'") >= 50_000);
    }

    private static void AddExpiringJobs(SqliteStorage storage, int count, string round)
    {
        var job = Job.FromExpression(() => TestJobs.Noop());
        using var connection = storage.GetConnection();
        for (var batch = 0; batch < count / 1000; batch++)
        {
            using var transaction = (JobStorageTransaction)connection.CreateWriteTransaction();
            for (var i = 0; i < 1000; i++)
            {
                var id = transaction.CreateJob(job, new Dictionary<string, string> { ["CurrentCulture"] = "en-GB" }, DateTime.UtcNow, TimeSpan.FromSeconds(1));
                transaction.SetJobParameter(id, "RetryCount", "0");
                transaction.AddJobState(id, new EnqueuedState());
                transaction.SetJobState(id, new SucceededState(null, 1, 1));
                transaction.ExpireJob(id, TimeSpan.FromSeconds(1));
                transaction.IncrementCounter($"stats:soak:{round}", TimeSpan.FromSeconds(1));
                transaction.AddToSet($"soak:{round}", id, i);
                transaction.InsertToList($"soak:{round}", id);
                transaction.SetRangeInHash($"soak:{id}", [new("Field", id)]);
                transaction.ExpireHash($"soak:{id}", TimeSpan.FromSeconds(1));
            }

            transaction.ExpireSet($"soak:{round}", TimeSpan.FromSeconds(1));
            transaction.ExpireList($"soak:{round}", TimeSpan.FromSeconds(1));
            transaction.Commit();
        }
    }

    private long RowsLeft() => Tables.Sum(t => Db.Scalar(_folder.Db, $"SELECT COUNT(*) FROM {t}"));

    private string Breakdown() => string.Join(", ", Tables.Select(t => $"{t} {Db.Scalar(_folder.Db, $"SELECT COUNT(*) FROM {t}")}"));

    private long FileSize() => new FileInfo(_folder.Db).Length + WalSize();

    private long WalSize() => File.Exists(_folder.Db + "-wal") ? new FileInfo(_folder.Db + "-wal").Length : 0;
}
