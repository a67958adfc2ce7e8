using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Newsletter.Web.Subscribers;
using Npgsql;
using NpgsqlTypes;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// One reader of a CSV import as Subscribers/Import/SubscriberImporter.cs validated it: every value is final
/// (the address normalised, the name cleaned, the dates and consent decided, the tags parsed), so a writer
/// only stores it.
/// </summary>
public readonly record struct ImportRow(string Email, string Key, string? Name, DateTime CreatedAt, DateTime? ConfirmedAt, string EmailHash, string[] Tags);

/// <summary>What every row of one import shares; At is the time written on each new reader's Imported history line.</summary>
public sealed record ImportTarget(int ImportId, SubscriberStatus Status, string Source, string? ConsentSource, DateTime At);

/// <summary>What a flushed batch did: added, skipped as already on the list (or earlier in the file), kept out as suppressed.</summary>
public readonly record struct ImportCounts(int Imported, int Duplicates, int Suppressed);

/// <summary>
/// How imported readers reach the database; everything else about an import (reading, validating, counting,
/// reporting, progress, resuming) is the importer's. Both forms apply the same rules: the first row of an
/// address wins and later ones are duplicates, an address whose hash is in "Suppressions" is never added and
/// is counted as suppressed, and a new reader gets its row's tags and an Imported line in its history
/// (SubscriberEventKind.Imported, the import's source), written with it.
/// </summary>
public abstract class SubscriberImportWriter
{
    /// <summary>Rows per transaction: the importer commits its progress with each batch.</summary>
    public abstract int BatchSize { get; }

    public abstract ImportBatchWriter Open(DbConnection connection, ImportTarget target);
}

/// <summary>The rows of one import, written in batches inside transactions the importer begins and commits.</summary>
public abstract class ImportBatchWriter : IDisposable
{
    /// <summary>Adds a row to the batch open in <paramref name="tx"/>; it may be written now or at <see cref="FlushAsync"/>.</summary>
    public abstract void Add(DbTransaction tx, in ImportRow row);

    /// <summary>Writes what is still held of the batch and says what the batch's rows did; the importer then commits.</summary>
    public abstract Task<ImportCounts> FlushAsync(DbTransaction tx, CancellationToken ct);

    public abstract void Dispose();
}

/// <summary>
/// One prepared INSERT per row: SQLite runs in this process, so a row costs a function call, and a unique
/// index conflict or the suppression NOT EXISTS says at once what became of it.
/// </summary>
internal sealed class SqliteSubscriberImportWriter : SubscriberImportWriter
{
    public override int BatchSize => 5000;

    public override ImportBatchWriter Open(DbConnection connection, ImportTarget target) => new Batch((SqliteConnection)connection, target);

    private sealed class Batch : ImportBatchWriter
    {
        // The text form EF Core's SQLite provider uses for DateTime, so imported rows sort with the rest.
        private const string DateFormat = "yyyy-MM-dd HH:mm:ss.FFFFFFF";

        private readonly SqliteCommand _insertSame;
        private readonly SqliteCommand _insertOther;
        private readonly SqliteCommand _tag;
        private readonly SqliteCommand _imported;
        private readonly SqliteCommand _suppressed;
        private int _importedCount, _duplicates, _suppressedCount;
        private DateTime _lastDate;
        private string _lastText = "";

        public Batch(SqliteConnection connection, ImportTarget target)
        {
            // Only what differs from row to row is bound: Microsoft.Data.Sqlite looks every parameter up by
            // name on every execution, and at a million rows that lookup was a fifth of the insert.
            // Most addresses are their own key (nothing to lower-case), so that statement binds the address once.
            _insertSame = Prepare(connection, InsertSql(target, sameKey: true), "$email", "$name", "$created", "$confirmed", "$hash");
            _insertOther = Prepare(connection, InsertSql(target, sameKey: false), "$email", "$name", "$created", "$confirmed", "$hash", "$key");
            _tag = Prepare(connection, "INSERT OR IGNORE INTO \"SubscriberTags\" (\"SubscriberId\", \"Tag\") VALUES ($id, $tag)", "$id", "$tag");
            _suppressed = Prepare(connection, "SELECT 1 FROM \"Suppressions\" WHERE \"EmailHash\" = $hash", "$hash");
            _imported = Prepare(connection, "INSERT INTO \"SubscriberEvents\" (\"SubscriberId\", \"At\", \"Kind\", \"Source\") VALUES ($id, $at, $kind, $source)", "$id", "$at", "$kind", "$source");
            _imported.Parameters[1].Value = target.At.ToString(DateFormat, CultureInfo.InvariantCulture);
            _imported.Parameters[2].Value = (int)SubscriberEventKind.Imported;
            _imported.Parameters[3].Value = target.Source;
        }

        public override void Add(DbTransaction tx, in ImportRow row)
        {
            var insert = ReferenceEquals(row.Key, row.Email) || row.Key == row.Email ? _insertSame : _insertOther;
            insert.Transaction = _tag.Transaction = _imported.Transaction = _suppressed.Transaction = (SqliteTransaction)tx;
            // In the order Prepare was given them.
            var p = insert.Parameters;
            p[0].Value = row.Email;
            p[1].Value = (object?)row.Name ?? DBNull.Value;
            p[2].Value = Text(row.CreatedAt);
            p[3].Value = row.ConfirmedAt is { } c ? Text(c) : DBNull.Value;
            p[4].Value = row.EmailHash;
            if (insert == _insertOther)
            {
                p[5].Value = row.Key;
            }

            // Synchronous on purpose: Microsoft.Data.Sqlite's async methods run synchronously anyway, and
            // a task per row of a million-row file is pure overhead.
            if (insert.ExecuteScalar() is long newId)
            {
                _importedCount++;
                _imported.Parameters[0].Value = newId;
                _imported.ExecuteNonQuery();
                foreach (var t in row.Tags)
                {
                    _tag.Parameters[0].Value = newId;
                    _tag.Parameters[1].Value = t;
                    _tag.ExecuteNonQuery();
                }
            }
            else
            {
                _suppressed.Parameters[0].Value = row.EmailHash;
                if (_suppressed.ExecuteScalar() is not null)
                {
                    _suppressedCount++;
                }
                else
                {
                    _duplicates++;
                }
            }
        }

        public override Task<ImportCounts> FlushAsync(DbTransaction tx, CancellationToken ct)
        {
            var counts = new ImportCounts(_importedCount, _duplicates, _suppressedCount);
            (_importedCount, _duplicates, _suppressedCount) = (0, 0, 0);
            return Task.FromResult(counts);
        }

        public override void Dispose()
        {
            _insertSame.Dispose();
            _insertOther.Dispose();
            _tag.Dispose();
            _imported.Dispose();
            _suppressed.Dispose();
        }

        /// <summary>
        /// The text form EF Core's SQLite provider uses for DateTime, so imported rows sort with the rest. Most
        /// rows of a file share their date (or have none and share the import's time), so the last is kept.
        /// </summary>
        private string Text(DateTime utc)
        {
            if (utc != _lastDate || _lastText.Length == 0)
            {
                _lastDate = utc;
                _lastText = utc.ToString(DateFormat, CultureInfo.InvariantCulture);
            }

            return _lastText;
        }

        /// <summary>
        /// What is the same for every row is written into the statement: the status is a number, the source is
        /// "import:" and a number, and the consent is read from the import's own row, so no author text becomes SQL.
        /// </summary>
        private static string InsertSql(ImportTarget target, bool sameKey) => string.Create(CultureInfo.InvariantCulture, $"""
            INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "ConsentSource", "CreatedAt", "ConfirmedAt", "TokenVersion")
            SELECT $email, {(sameKey ? "$email" : "$key")}, $name, {(int)target.Status}, 'import:{target.ImportId}', (SELECT "ConsentSource" FROM "SubscriberImports" WHERE "Id" = {target.ImportId}), $created, $confirmed, 0
            WHERE NOT EXISTS (SELECT 1 FROM "Suppressions" WHERE "EmailHash" = $hash)
            ON CONFLICT ("EmailKey") DO NOTHING
            RETURNING "Id"
            """);

        private static SqliteCommand Prepare(SqliteConnection connection, string sql, params string[] parameters)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var name in parameters)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            return command;
        }
    }
}

/// <summary>
/// A batch is streamed by binary COPY into a temporary staging table and merged by one statement: a
/// round trip per row would cost more than the row. The staging table lives only in the batch's
/// transaction (ON COMMIT DROP), so a rolled-back batch or a crashed import leaves nothing behind.
/// </summary>
internal sealed class PostgresSubscriberImportWriter : SubscriberImportWriter
{
    // Large enough that the merge's fixed costs vanish, small enough that a batch's progress shows every
    // second or two and a failure rolls back little.
    public override int BatchSize => 50_000;

    public override ImportBatchWriter Open(DbConnection connection, ImportTarget target) => new Batch((NpgsqlConnection)connection, target);

    // For the batch's transaction only: the merge's row estimates over a fresh staging table are far too high,
    // and PostgreSQL then spent most of a batch JIT-compiling the merge (0.8 s of 2.8 s for 50,000 rows), and
    // its sorts of a batch spilled to disk with the default work_mem.
    private const string Stage = """
        SET LOCAL jit = off;
        SET LOCAL work_mem = '64MB';
        CREATE TEMP TABLE "ImportRows" (
            "Seq" integer NOT NULL, "Email" text NOT NULL, "EmailKey" text NOT NULL, "Name" text,
            "CreatedAt" timestamptz NOT NULL, "ConfirmedAt" timestamptz, "EmailHash" text NOT NULL, "Tags" text[] NOT NULL
        ) ON COMMIT DROP
        """;

    private const string Copy = """
        COPY "ImportRows" ("Seq", "Email", "EmailKey", "Name", "CreatedAt", "ConfirmedAt", "EmailHash", "Tags") FROM STDIN (FORMAT BINARY)
        """;

    // The same rules as the SQLite form's row-by-row insert, for the whole batch at once: the first row of an
    // address in file order is the one offered (DISTINCT ON), a suppressed hash is never added, the unique
    // address index skips readers already on the list, and readers are added in file order so their Ids
    // (and the list's newest-first order) follow the file; each added reader gets its Imported history line
    // in the same statement. Every staged row that is not added is either
    // suppressed (its hash is in "Suppressions") or a duplicate, exactly as SQLite counts them.
    private const string Merge = """
        WITH "First" AS (
            SELECT DISTINCT ON ("EmailKey") * FROM "ImportRows" ORDER BY "EmailKey", "Seq"
        ), "Added" AS (
            INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "ConsentSource", "CreatedAt", "ConfirmedAt", "TokenVersion")
            SELECT f."Email", f."EmailKey", f."Name", @status, @source, @consent, f."CreatedAt", f."ConfirmedAt", 0
            FROM "First" f
            WHERE NOT EXISTS (SELECT 1 FROM "Suppressions" x WHERE x."EmailHash" = f."EmailHash")
            ORDER BY f."Seq"
            ON CONFLICT ("EmailKey") DO NOTHING
            RETURNING "Id", "EmailKey"
        ), "Tagged" AS (
            INSERT INTO "SubscriberTags" ("SubscriberId", "Tag")
            SELECT a."Id", t."Tag" FROM "Added" a JOIN "First" f ON f."EmailKey" = a."EmailKey" CROSS JOIN LATERAL unnest(f."Tags") AS t("Tag")
            ON CONFLICT DO NOTHING
        ), "Recorded" AS (
            INSERT INTO "SubscriberEvents" ("SubscriberId", "At", "Kind", "Source")
            SELECT a."Id", @at, @kind, @source FROM "Added" a
        )
        SELECT (SELECT count(*) FROM "Added")::int,
               (SELECT count(*) FROM "ImportRows" r WHERE EXISTS (SELECT 1 FROM "Suppressions" x WHERE x."EmailHash" = r."EmailHash"))::int,
               (SELECT count(*) FROM "ImportRows")::int
        """;

    private sealed class Batch(NpgsqlConnection connection, ImportTarget target) : ImportBatchWriter
    {
        private NpgsqlBinaryImporter? _copy;
        private int _seq;

        public override void Add(DbTransaction tx, in ImportRow row)
        {
            if (_copy is null)
            {
                // Npgsql runs every command on the connection's open transaction, which is the batch's.
                using (var stage = new NpgsqlCommand(Stage, connection))
                {
                    stage.ExecuteNonQuery();
                }

                _copy = connection.BeginBinaryImport(Copy);
                _seq = 0;
            }

            _copy.StartRow();
            _copy.Write(_seq++, NpgsqlDbType.Integer);
            _copy.Write(row.Email, NpgsqlDbType.Text);
            _copy.Write(row.Key, NpgsqlDbType.Text);
            if (row.Name is null)
            {
                _copy.WriteNull();
            }
            else
            {
                _copy.Write(row.Name, NpgsqlDbType.Text);
            }

            _copy.Write(row.CreatedAt, NpgsqlDbType.TimestampTz);
            if (row.ConfirmedAt is { } confirmed)
            {
                _copy.Write(confirmed, NpgsqlDbType.TimestampTz);
            }
            else
            {
                _copy.WriteNull();
            }

            _copy.Write(row.EmailHash, NpgsqlDbType.Text);
            _copy.Write(row.Tags, NpgsqlDbType.Array | NpgsqlDbType.Text);
        }

        public override async Task<ImportCounts> FlushAsync(DbTransaction tx, CancellationToken ct)
        {
            if (_copy is null)
            {
                return default;
            }

            await _copy.CompleteAsync(ct);
            await _copy.DisposeAsync();
            _copy = null;
            await using var merge = new NpgsqlCommand(Merge, connection, (NpgsqlTransaction)tx);
            merge.Parameters.AddWithValue("status", (int)target.Status);
            merge.Parameters.AddWithValue("source", target.Source);
            merge.Parameters.AddWithValue("consent", NpgsqlDbType.Varchar, (object?)target.ConsentSource ?? DBNull.Value);
            merge.Parameters.AddWithValue("at", NpgsqlDbType.TimestampTz, target.At);
            merge.Parameters.AddWithValue("kind", (int)SubscriberEventKind.Imported);
            await using var reader = await merge.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            var (imported, suppressed, staged) = (reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2));
            return new ImportCounts(imported, staged - imported - suppressed, suppressed);
        }

        public override void Dispose()
        {
            // A batch cut off by a failure: its COPY is cancelled, and the rollback takes the staging table.
            _copy?.Dispose();
            _copy = null;
        }
    }
}
