using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
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
    public async Task TheWalIsEmptiedPastItsLimitAlthoughReadersNeverLetGoOfIt()
    {
        var file = Path.Combine(Path.GetTempPath(), $"checkpoint-{Guid.NewGuid():N}.db");
        try
        {
            await WriteBesideReadersAsync(file);
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

    private static async Task WriteBesideReadersAsync(string file)
    {
        var connectionString = $"Data Source={file};Pooling=false";
        await using var writer = new SqliteConnection(connectionString);
        await writer.OpenAsync(Ct);
        // As the app's connections are while the checkpointer runs: WAL, and no checkpoints at commit.
        Exec(writer, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE outcome (id INTEGER PRIMARY KEY, body BLOB NOT NULL);");

        using var checkpointer = new SqliteCheckpointer(connectionString, NullLogger<SqliteCheckpointer>.Instance, LimitFrames);
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
                Exec(writer, "BEGIN IMMEDIATE; INSERT INTO outcome (body) VALUES (randomblob(3000)); COMMIT;");
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

                Assert.True(DateTime.UtcNow < settled, $"the WAL stayed at {walFile.Length:N0} bytes once the writes stopped");
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
