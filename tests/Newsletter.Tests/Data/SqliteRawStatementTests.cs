using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Data;

/// <summary>
/// The import's hot path on SQLite runs its statements through SQLite's own API and hashes addresses with kept contexts:
/// each must say exactly what the ADO.NET and one-shot forms said, on a real SQLite file.
/// </summary>
public class SqliteRawStatementTests
{
    [Fact]
    public void AnInsertReportsItsOwnRowIdNotATriggersAndNothingWhenItAddedNoRow()
    {
        var file = Path.Combine(Path.GetTempPath(), $"raw-{Guid.NewGuid():N}.db");
        try
        {
            InsertsOn(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static void InsertsOn(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=false");
        connection.Open();
        Exec(connection, """
            CREATE TABLE reader (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, consent TEXT);
            CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
            INSERT INTO audit (id, what) VALUES (1000, 'seed');
            CREATE TABLE blocked (email TEXT PRIMARY KEY);
            INSERT INTO blocked VALUES ('kept.out@example.org');
            -- A trigger that inserts elsewhere, with row ids far from the reader's, as the import's count and webhook triggers do.
            CREATE TRIGGER reader_audit AFTER INSERT ON reader BEGIN INSERT INTO audit (what) VALUES (NEW.email); END;
            CREATE TRIGGER reader_refuse BEFORE INSERT ON reader WHEN NEW.email = 'refused@example.org' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
            """);

        using var tx = connection.BeginTransaction();
        using var insert = new SqliteRawStatement(connection, """
            INSERT INTO reader (email, consent) SELECT $email, $consent
            WHERE NOT EXISTS (SELECT 1 FROM blocked WHERE email = $email)
            ON CONFLICT (email) DO NOTHING
            """);
        var email = insert.Index("$email");
        insert.Bind(insert.Index("$consent"), "form, 2026-12-04");

        insert.Bind(email, "one@example.org");
        Assert.Equal(1L, insert.Insert());
        insert.Bind(email, "two@example.org");
        Assert.Equal(2L, insert.Insert());

        // Nothing added, right after a row that was: the count is this statement's, not the last one's.
        insert.Bind(email, "one@example.org");
        Assert.Null(insert.Insert());
        insert.Bind(email, "kept.out@example.org");
        Assert.Null(insert.Insert());

        // A trigger's refusal is the statement's error, with the trigger's message, and the statement runs again after it.
        insert.Bind(email, "refused@example.org");
        var refused = Assert.Throws<SqliteException>(() => insert.Insert());
        Assert.Contains("refused by the test", refused.Message, StringComparison.Ordinal);
        insert.Bind(email, "three@example.org");
        Assert.Equal(3L, insert.Insert());
        tx.Commit();

        // The value bound once stayed bound for every row; the trigger's rows went on from 1000.
        Assert.Equal(3L, Scalar(connection, "SELECT count(*) FROM reader WHERE consent = 'form, 2026-12-04'"));
        Assert.Equal(1003L, Scalar(connection, "SELECT max(id) FROM audit"));

        using var query = new SqliteRawStatement(connection, "SELECT 1 FROM blocked WHERE email = $email");
        query.Bind(query.Index("$email"), "kept.out@example.org");
        Assert.True(query.Any());
        query.Bind(query.Index("$email"), "one@example.org");
        Assert.False(query.Any());
        Assert.Throws<ArgumentException>(() => query.Index("$nope"));
    }

    [Fact]
    public void ABrokenStatementFailsWithSqlitesOwnMessage()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        var broken = Assert.Throws<SqliteException>(() => new SqliteRawStatement(connection, "INSERT INTO nowhere VALUES (1)"));
        Assert.Contains("no such table: nowhere", broken.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheImportsHasherGivesEveryAddressTheSameHashAsTheOneShotForm()
    {
        using var app = new NewsletterApp();
        var hashes = app.Services.GetRequiredService<AddressHashes>();
        using var hasher = hashes.NewHasher();
        string[] addresses =
        [
            "reader@example.org", " Mixed.Case@Example.ORG ", "zoë@exämple.de", "用户@例子.广告",
            new string('a', 600) + "@example.org", // past the hasher's stack buffer in UTF-8 once non-ASCII
            new string('é', 700) + "@example.org",
        ];

        // Twice round, so a context left dirty by one address would change the next one's hash.
        foreach (var address in addresses.Concat(addresses))
        {
            Assert.Equal(hashes.Of(address), hasher.OfKey(Subscriber.KeyOf(address)));
        }

        Assert.NotEqual(hasher.OfKey("one@example.org"), hasher.OfKey("two@example.org"));
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }
}
