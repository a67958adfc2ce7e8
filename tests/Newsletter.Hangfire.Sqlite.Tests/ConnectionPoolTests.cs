using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>
/// The storage lends connections from a pool of its own and keeps each connection's prepared statements. What that must
/// not cost: a kept statement running outside the transaction it is used in, a connection left mid-transaction lent
/// again, connections piling up, or a handle left open on the file once the storage is disposed.
/// </summary>
public sealed class ConnectionPoolTests : IDisposable
{
    private const string Insert = "INSERT INTO pool_test (k, v) VALUES ($k, $v)";
    private const string Count = "SELECT COUNT(*) FROM pool_test";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void AStatementIsKeptByItsConnectionAndRunsAgainWithEachCallsValues()
    {
        using var storage = OpenWithTable();
        storage.Database.Write(c => c.Execute(Insert, ("$k", "k0"), ("$v", 0)));

        // One thread, so the most recently used connection serves every call: what its statements hold in memory between
        // operations is what it keeps, and it must neither be nothing (prepared afresh each time) nor grow with use.
        var afterOne = storage.Database.Read(StatementMemory);
        for (var i = 1; i < 200; i++)
        {
            storage.Database.Write(c => c.Execute(Insert, ("$k", "k" + i), ("$v", i)));
        }

        var afterAll = storage.Database.Read(StatementMemory);
        Assert.True(afterOne > 0, "no statement was kept between operations");
        Assert.Equal(afterOne, afterAll);
        Assert.Equal(Enumerable.Range(100, 100).Sum(), storage.Database.Read(c => c.Long("SELECT SUM(v) FROM pool_test WHERE v >= $min", ("$min", 100))));
        Assert.Equal(200, Db.Scalar(_folder.Db, "SELECT COUNT(DISTINCT k) FROM pool_test"));
    }

    [Fact]
    public void AStatementKeptFromAReadRunsInsideTheWriteTransactionThatUsesItNext()
    {
        using var storage = OpenWithTable();
        Assert.Equal(0, storage.Database.Read(c => c.Long(Count)));

        // Inside the transaction the kept count sees the transaction's own insert; the transaction then fails, so the
        // insert is gone. A kept command still naming no transaction would have refused to run in there.
        long seenInside = -1;
        Assert.Throws<InvalidOperationException>(() => storage.Database.Write(c =>
        {
            c.Execute(Insert, ("$k", "a"), ("$v", 1));
            seenInside = c.Long(Count);
            throw new InvalidOperationException("planned failure after the insert");
        }));
        Assert.Equal(1, seenInside);
        Assert.Equal(0, storage.Database.Read(c => c.Long(Count)));
        Assert.Equal(0, Db.Scalar(_folder.Db, Count));
    }

    [Fact]
    public void AConnectionLeftMidTransactionIsNotLentAgain()
    {
        using var storage = OpenWithTable();
        Assert.Throws<InvalidOperationException>(() => storage.Database.Read<int>(c =>
        {
            c.BeginTransaction(deferred: false);
            c.Execute(Insert, ("$k", "left"), ("$v", 1));
            throw new InvalidOperationException("planned failure with a transaction open");
        }));

        // Had that connection gone back to the pool, this write would nest a transaction in it (and the row would commit).
        storage.Database.Write(c => c.Execute(Insert, ("$k", "next"), ("$v", 2)));
        Assert.Equal("next", Db.Text(_folder.Db, "SELECT group_concat(k) FROM pool_test"));
    }

    [Fact]
    public void AWriteThatSqliteRolledBackItselfFailsWithItsOwnErrorAndTheNextWriteCommits()
    {
        using var storage = OpenWithTable();

        // RAISE(ROLLBACK) ends the transaction inside SQLite: the storage must not then try a second rollback, whose
        // "no transaction is active" would hide the real error, nor lend the connection out in a state it doesn't know.
        Db.Execute(_folder.Db, "CREATE TRIGGER refuse BEFORE INSERT ON pool_test WHEN NEW.k = 'refused' BEGIN SELECT RAISE(ROLLBACK, 'refused by trigger'); END");
        var error = Assert.Throws<SqliteException>(() => storage.Database.Write(c =>
        {
            c.Execute(Insert, ("$k", "first"), ("$v", 1));
            c.Execute(Insert, ("$k", "refused"), ("$v", 2));
        }));
        Assert.Contains("refused by trigger", error.Message, StringComparison.Ordinal);

        for (var i = 0; i < 20; i++)
        {
            storage.Database.Write(c => c.Execute(Insert, ("$k", "after" + i), ("$v", i)));
        }

        Assert.Equal(0, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM pool_test WHERE k = 'first'"));
        Assert.Equal(20, Db.Scalar(_folder.Db, Count));
    }

    [Fact]
    public async Task ThePoolKeepsAFewConnectionsAndTheStorageLeavesNoneOpenOnceDisposed()
    {
        Assert.SkipUnless(Directory.Exists("/proc/self/fd"), "counts open files through /proc (Linux)");
        var storage = OpenWithTable();
        try
        {
            // Forty operations at once, each holding its connection until all forty have one.
            const int AtOnce = 40;
            using var barrier = new Barrier(AtOnce);
            var reads = Enumerable.Range(0, AtOnce).Select(_ => Task.Factory.StartNew(
                () => storage.Database.Read(c =>
                {
                    Assert.True(barrier.SignalAndWait(TimeSpan.FromMinutes(1)), "forty connections were never open at once");
                    return c.Long(Count);
                }),
                TestContext.Current.CancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default)).ToList();
            Assert.All(await Task.WhenAll(reads), n => Assert.Equal(0, n));

            // SQLite itself may hold a closed connection's file open until the file's last connection closes (POSIX
            // locks belong to the process, not the descriptor), so the pool is counted, and the files after the dispose.
            Assert.InRange(storage.Database.IdleConnections, 1, 16);
            Assert.True(OpenHandlesOn(_folder.Db) > 0);
        }
        finally
        {
            storage.Dispose();
        }

        Assert.Equal(0, OpenHandlesOn(_folder.Db));
    }

    private SqliteStorage OpenWithTable()
    {
        var storage = _folder.OpenStorage();
        Db.Execute(_folder.Db, "CREATE TABLE pool_test (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
        return storage;
    }

    /// <summary>Bytes held by the connection's prepared statements (SQLITE_DBSTATUS_STMT_USED), read before it runs anything.</summary>
    private static long StatementMemory(SqliteConnection connection)
    {
        Assert.Equal(0, raw.sqlite3_db_status(connection.Handle, raw.SQLITE_DBSTATUS_STMT_USED, out var current, out _, 0));
        return current;
    }

    private static int OpenHandlesOn(string file) =>
        new DirectoryInfo("/proc/self/fd").GetFiles().Count(fd =>
        {
            try
            {
                return fd.LinkTarget == file;
            }
            catch (IOException)
            {
                return false; // closed while listed
            }
        });
}
