using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Newsletter.Testing;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Tests.Data;

/// <summary>
/// During a send one connection commits every few milliseconds while others read, so some reader is nearly always
/// inside the WAL and SQLite seldom gets to start it over by itself: the WAL of a 1,000,000-reader send reached 2.7 GB.
/// The app's checkpointer must empty it once it passes its limit, on a real SQLite file, without losing a row.
/// </summary>
public class SqliteCheckpointerTests
{
    private const int LimitFrames = 300;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public Task TheWalIsEmptiedPastItsLimitAlthoughReadersNeverLetGoOfIt() => OnAFileAsync(WriteBesideReadersAsync);

    private static async Task WriteBesideReadersAsync(string file)
    {
        var connectionString = $"Data Source={file};Pooling=false";
        await using var writer = await OpenWriterAsync(connectionString);

        // Its log, down to each refused TRUNCATE, goes into a failure's message: what kept the WAL is then on record.
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var checkpointer = new SqliteCheckpointer(connectionString, new RecordingLogger(log, LogLevel.Debug), TimeProvider.System, LimitFrames);
        await checkpointer.StartAsync(Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        // Two readers, each starting its next read before the other's ends, as the send's workers claim batches.
        var readers = new[] { ReadAsync(connectionString, TimeSpan.Zero, stop.Token), ReadAsync(connectionString, TimeSpan.FromMilliseconds(15), stop.Token) };
        var walFile = new FileInfo(file + "-wal");
        var written = 0;
        var largest = 0L;
        var emptied = false;
        try
        {
            // Twelve limits' worth of commits at least, then on until the WAL was seen to shrink: a stalled machine
            // only takes longer. Without the checkpointer's truncation the WAL only grows and the deadline fails it.
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (written < 12 * LimitFrames || !emptied)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the WAL was never emptied: {walFile.Length:N0} bytes after {written:N0} commits (largest {largest:N0})");
                Exec(writer, InsertOne);
                written++;
                if (written % 4 == 0)
                {
                    // A few thousand commits a second, as a send's; unthrottled, a WAL never emptied grew to 6 GB by the deadline.
                    await Task.Delay(1, Ct);
                }

                walFile.Refresh();
                emptied |= walFile.Length < largest;
                largest = Math.Max(largest, walFile.Length);
            }

            // The writes stop and the readers go on: the WAL does not stay at its size but ends under its limit.
            var settled = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                walFile.Refresh();
                if (walFile.Length < LimitFrames * 4096L)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < settled, $"the WAL stayed at {walFile.Length:N0} bytes once the writes stopped; the checkpointer's last lines: " + string.Join(" | ", log.TakeLast(8)));
                await Task.Delay(50, Ct);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(readers);
            await checkpointer.StopAsync(CancellationToken.None);
        }

        // Nothing committed was lost on the way.
        Assert.Equal((long)written, Scalar(writer, "SELECT count(*) FROM outcome"));
        Assert.Equal("ok", Scalar(writer, "PRAGMA integrity_check"));
    }

    [Fact]
    public Task AWalStartedOverByAWriterInAFileLongerThanTheLimitIsEmptied() => OnAFileAsync(StartOverInALongFileAsync);

    private static async Task StartOverInALongFileAsync(string file)
    {
        var connectionString = $"Data Source={file};Pooling=false";
        await using var writer = await OpenWriterAsync(connectionString);
        for (var i = 0; i < 2 * LimitFrames; i++)
        {
            Exec(writer, InsertOne);
        }

        // What the first test met by chance (the WAL past its limit while TRUNCATEs were refused, then everything
        // copied back at a moment no reader was in it): the next commit starts the WAL over at its first frame
        // and the file keeps its length. (Reading the frames runs a PASSIVE checkpoint, which copies them all back.)
        FramesIn(writer);
        Exec(writer, InsertOne);
        var walFile = new FileInfo(file + "-wal");
        var (frames, length) = (FramesIn(writer), walFile.Length);
        Assert.True(frames < 10 && length > 2L * LimitFrames * 4096, $"the WAL was not started over in a long file: {frames} frames in {length:N0} bytes");

        using var checkpointer = new SqliteCheckpointer(connectionString, new RecordingLogger(new(), LogLevel.Warning), TimeProvider.System, LimitFrames);
        await checkpointer.StartAsync(Ct);
        try
        {
            await WaitUntilAsync(() => { walFile.Refresh(); return walFile.Length == 0; }, $"the WAL file of {length:N0} bytes holding {frames} frames was never emptied");
        }
        finally
        {
            await checkpointer.StopAsync(CancellationToken.None);
        }

        Assert.Equal(1L + (2L * LimitFrames), Scalar(writer, "SELECT count(*) FROM outcome"));
    }

    /// <summary>The frames in the WAL, as a PASSIVE checkpoint reports them after copying back what it can.</summary>
    private static long FramesIn(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
        using var row = command.ExecuteReader();
        Assert.True(row.Read());
        return row.GetInt64(1);
    }

    [Fact]
    public Task AWalKeptOverItsLimitByALongReadIsWarnedAboutOnceAMinuteLaterAndEmptiedWhenTheReadEnds() => OnAFileAsync(HoldTheWalAsync);

    private static async Task OnAFileAsync(Func<string, Task> test)
    {
        var file = Path.Combine(Path.GetTempPath(), $"checkpoint-{Guid.NewGuid():N}.db");
        try
        {
            await test(file);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(file + suffix);
            }
        }
    }

    private static async Task HoldTheWalAsync(string file)
    {
        var connectionString = $"Data Source={file};Pooling=false";
        await using var writer = await OpenWriterAsync(connectionString);
        await using var backup = new SqliteConnection(connectionString);
        await backup.OpenAsync(Ct);
        var walFile = new FileInfo(file + "-wal");
        // The checkpointer's "now" is moved by the test; its 200 ms ticks stay real.
        var clock = new SteppedClock(DateTimeOffset.UtcNow);
        var warnings = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var checkpointer = new SqliteCheckpointer(connectionString, new RecordingLogger(warnings, LogLevel.Warning), clock, LimitFrames);
        await checkpointer.StartAsync(Ct);
        try
        {
            for (var round = 1; round <= 2; round++)
            {
                // A long read (a backup, an export) holds its snapshot while the WAL grows past the limit behind it:
                // every TRUNCATE is refused after its 100 ms wait.
                Exec(writer, InsertOne);
                using var read = backup.BeginTransaction(deferred: true);
                using (var count = backup.CreateCommand())
                {
                    count.Transaction = read;
                    count.CommandText = "SELECT count(*) FROM outcome";
                    count.ExecuteScalar();
                }

                for (var i = 0; i < 2 * LimitFrames; i++)
                {
                    Exec(writer, InsertOne);
                }

                // Under a minute over the limit (by the checkpointer's clock): nothing to say yet.
                clock.Now += TimeSpan.FromSeconds(50);
                await Task.Delay(TimeSpan.FromSeconds(1), Ct);
                Assert.Equal(round - 1, warnings.Count);

                // Long past a minute: one warning, however many refusals follow.
                clock.Now += TimeSpan.FromMinutes(3);
                await WaitUntilAsync(() => warnings.Count == round, "no warning about the WAL kept over its limit");
                clock.Now += TimeSpan.FromMinutes(3);
                await Task.Delay(TimeSpan.FromSeconds(1), Ct);
                Assert.Equal(round, warnings.Count);
                Assert.Contains($"stayed over {LimitFrames} frames", warnings.Last(), StringComparison.Ordinal);

                // The read ends: the next try (two seconds later by the clock) empties the WAL.
                read.Commit();
                clock.Now += TimeSpan.FromSeconds(3);
                await WaitUntilAsync(() => { walFile.Refresh(); return walFile.Length == 0; }, "the WAL was not emptied once the read ended");
            }
        }
        finally
        {
            await checkpointer.StopAsync(CancellationToken.None);
        }

        Assert.Equal(2L + (4L * LimitFrames), Scalar(writer, "SELECT count(*) FROM outcome"));
    }

    private static async Task WaitUntilAsync(Func<bool> done, string failure)
    {
        // Real seconds, for the checkpointer's 200 ms ticks to come round on a stalled machine.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>The checkpointer's log from <paramref name="least"/> up, each line with its time.</summary>
    private sealed class RecordingLogger(System.Collections.Concurrent.ConcurrentQueue<string> lines, LogLevel least) : ILogger<SqliteCheckpointer>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= least;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel}: {formatter(state, exception)} {exception?.Message}");
            }
        }
    }

    private static async Task ReadAsync(string connectionString, TimeSpan offset, CancellationToken stop)
    {
        await using var reader = new SqliteConnection(connectionString);
        await reader.OpenAsync(CancellationToken.None);
        try
        {
            await Task.Delay(offset, stop);
            while (!stop.IsCancellationRequested)
            {
                // A read transaction holds its snapshot, and with it its place in the WAL, until it ends.
                using var tx = reader.BeginTransaction(deferred: true);
                using (var read = reader.CreateCommand())
                {
                    read.Transaction = tx;
                    read.CommandText = "SELECT count(*) FROM outcome";
                    read.ExecuteScalar();
                }

                await Task.Delay(30, stop);
                tx.Commit();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private const string InsertOne = "BEGIN IMMEDIATE; INSERT INTO outcome (body) VALUES (randomblob(3000)); COMMIT;";

    /// <summary>A writer as the app's connections are while the checkpointer runs: WAL, and no checkpoints at commit.</summary>
    private static async Task<SqliteConnection> OpenWriterAsync(string connectionString)
    {
        var writer = new SqliteConnection(connectionString);
        await writer.OpenAsync(Ct);
        Exec(writer, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE outcome (id INTEGER PRIMARY KEY, body BLOB NOT NULL);");
        return writer;
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
