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
/// only stores it. A row from another platform's export may carry its own status, consent record and history
/// detail (<see cref="Status"/> null: the import's status; <see cref="Consent"/> null: the import's consent); a
/// reader who left there (Unsubscribed, Bounced, Complained) also has when they left.
/// </summary>
public readonly record struct ImportRow(string Email, string Key, string? Name, DateTime CreatedAt, DateTime? ConfirmedAt, string EmailHash, string[] Tags,
    SubscriberStatus? Status = null, string? Consent = null, DateTime? LeftAt = null, string? Detail = null)
{
    /// <summary>The export says this reader left: never mailed, and an existing reader of the address is moved to this state.</summary>
    public bool Leaving => Status is SubscriberStatus.Unsubscribed or SubscriberStatus.Bounced or SubscriberStatus.Complained;

    /// <summary>Bounced and complained addresses are suppressed for good, as the lifecycle does for its own bounces and complaints.</summary>
    public SuppressionReason? Suppress => Status switch
    {
        SubscriberStatus.Bounced => SuppressionReason.HardBounce,
        SubscriberStatus.Complained => SuppressionReason.Complaint,
        _ => null,
    };
}

/// <summary>What every row of one import shares; At is the time written on each new reader's Imported history line.</summary>
public sealed record ImportTarget(int ImportId, SubscriberStatus Status, string Source, string? ConsentSource, DateTime At);

/// <summary>
/// What a flushed batch did: added, skipped as already on the list (or earlier in the file), kept out as suppressed;
/// NotMailed: rows of readers who left, added in that state or moving a reader on the list to it.
/// </summary>
public readonly record struct ImportCounts(int Imported, int Duplicates, int Suppressed, int NotMailed = 0);

/// <summary>
/// How imported readers reach the database; everything else about an import (reading, validating, counting,
/// reporting, progress, resuming) is the importer's. Both forms apply the same rules: the first row of an
/// address wins and later ones are duplicates, an address whose hash is in "Suppressions" is never added and
/// is counted as suppressed, and a new reader gets its row's tags and an Imported line in its history
/// (SubscriberEventKind.Imported, the import's source), written with it. A leaving row (ImportRow.Leaving) whose
/// address is already on the list as active or pending moves that reader to its state, with a history line, unless
/// the reader confirmed here (not by an import) after leaving there: they came back themselves. A bounced or
/// complained row that added or moved a reader suppresses the address.
/// </summary>
public abstract class SubscriberImportWriter
{
    /// <summary>Rows per transaction: the importer commits its progress with each batch.</summary>
    public abstract int BatchSize { get; }

    public abstract ImportBatchWriter Open(DbConnection connection, ImportTarget target);

    /// <summary>
    /// A second connection on which the importer stages the next batch while this one's batch is merged, or null
    /// where batches cannot overlap. The batches still commit one after the other, in file order.
    /// </summary>
    public virtual DbConnection? OverlapConnection(DbConnection connection) => null;
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

        private readonly Insert _insertSame;
        private readonly Insert _insertOther;
        private readonly SqliteRawStatement _tag;
        private readonly SqliteRawStatement _imported;
        private readonly SqliteRawStatement _suppressed;
        private readonly ImportTarget _target;
        private readonly SqliteConnection _connection;
        private PlatformStatements? _platform;
        private int _importedCount, _duplicates, _suppressedCount, _notMailed;
        private readonly Dictionary<DateTime, string> _dates = [];
        private readonly int _importedId, _tagId, _tagText, _suppressedHash;

        public Batch(SqliteConnection connection, ImportTarget target)
        {
            _target = target;
            _connection = connection;
            // The plain rows of an author's CSV, a million of them at a time, go through SQLite's own API
            // (SqliteRawStatement): only what differs from row to row is bound on each row.
            // Most addresses are their own key (nothing to lower-case), so that statement binds the address once.
            _insertSame = new Insert(connection, target, sameKey: true);
            _insertOther = new Insert(connection, target, sameKey: false);
            _tag = new SqliteRawStatement(connection, "INSERT OR IGNORE INTO \"SubscriberTags\" (\"SubscriberId\", \"Tag\") VALUES ($id, $tag)");
            _suppressed = new SqliteRawStatement(connection, "SELECT 1 FROM \"Suppressions\" WHERE \"EmailHash\" = $hash");
            _imported = new SqliteRawStatement(connection, "INSERT INTO \"SubscriberEvents\" (\"SubscriberId\", \"At\", \"Kind\", \"Source\") VALUES ($id, $at, $kind, $source)");
            _imported.Bind(_imported.Index("$at"), target.At.ToString(DateFormat, CultureInfo.InvariantCulture));
            _imported.Bind(_imported.Index("$kind"), (int)SubscriberEventKind.Imported);
            _imported.Bind(_imported.Index("$source"), target.Source);
            (_importedId, _tagId, _tagText, _suppressedHash) = (_imported.Index("$id"), _tag.Index("$id"), _tag.Index("$tag"), _suppressed.Index("$hash"));
        }

        public override void Add(DbTransaction tx, in ImportRow row)
        {
            if (row.Status is not null || row.Consent is not null)
            {
                AddFromPlatform((SqliteTransaction)tx, row);
                return;
            }

            // The statements run in the transaction open on the connection, which is tx.
            var insert = ReferenceEquals(row.Key, row.Email) || row.Key == row.Email ? _insertSame : _insertOther;
            if (insert.Run(row, Text(row.CreatedAt), row.ConfirmedAt is { } c ? Text(c) : null) is long newId)
            {
                _importedCount++;
                AddedReader(newId, row.Tags);
            }
            else if (IsSuppressed(row.EmailHash))
            {
                _suppressedCount++;
            }
            else
            {
                _duplicates++;
            }
        }

        /// <summary>A new reader's Imported line and tags.</summary>
        private void AddedReader(long id, string[] tags)
        {
            _imported.Bind(_importedId, id);
            _imported.Insert();
            foreach (var t in tags)
            {
                _tag.Bind(_tagId, id);
                _tag.Bind(_tagText, t);
                _tag.Insert();
            }
        }

        private bool IsSuppressed(string hash)
        {
            _suppressed.Bind(_suppressedHash, hash);
            return _suppressed.Any();
        }

        /// <summary>
        /// A row that carries its own status or consent (another platform's export): statements of their own, so the
        /// plain rows of an author's CSV keep their short insert. A leaving row on an address already on the list moves
        /// that reader (see <see cref="SubscriberImportWriter"/>); a bounce or complaint suppresses the address.
        /// </summary>
        private void AddFromPlatform(SqliteTransaction tx, in ImportRow row)
        {
            var s = _platform ??= new PlatformStatements(_connection, _target);
            s.SetTransaction(tx);
            var p = s.Insert.Parameters;
            p[0].Value = row.Email;
            p[1].Value = row.Key;
            p[2].Value = (object?)row.Name ?? DBNull.Value;
            p[3].Value = row.Status is { } status ? (int)status : DBNull.Value;
            p[4].Value = (object?)row.Consent ?? DBNull.Value;
            p[5].Value = Text(row.CreatedAt);
            p[6].Value = row.ConfirmedAt is { } c ? c == row.CreatedAt ? p[5].Value : c.ToString(DateFormat, CultureInfo.InvariantCulture) : DBNull.Value;
            p[7].Value = row.LeftAt is { } l ? l.ToString(DateFormat, CultureInfo.InvariantCulture) : DBNull.Value;
            p[8].Value = row.EmailHash;
            long? changed = null;
            if (s.Insert.ExecuteScalar() is long newId)
            {
                _importedCount++;
                s.Imported.Parameters[0].Value = newId;
                s.Imported.Parameters[1].Value = (object?)row.Detail ?? DBNull.Value;
                s.Imported.ExecuteNonQuery();
                foreach (var t in row.Tags)
                {
                    _tag.Bind(_tagId, newId);
                    _tag.Bind(_tagText, t);
                    _tag.Insert();
                }

                if (row.Leaving)
                {
                    _notMailed++;
                    changed = newId;
                }
            }
            else
            {
                if (IsSuppressed(row.EmailHash))
                {
                    _suppressedCount++;
                    return;
                }

                if (row.Leaving)
                {
                    s.Leave.Parameters[0].Value = (int)row.Status!.Value;
                    s.Leave.Parameters[1].Value = p[7].Value;
                    s.Leave.Parameters[2].Value = row.Key;
                    if (s.Leave.ExecuteScalar() is long movedId)
                    {
                        _notMailed++;
                        changed = movedId;
                        s.Left.Parameters[0].Value = movedId;
                        s.Left.Parameters[1].Value = (int)(row.Status switch
                        {
                            SubscriberStatus.Bounced => SubscriberEventKind.Bounced,
                            SubscriberStatus.Complained => SubscriberEventKind.Complained,
                            _ => SubscriberEventKind.Unsubscribed,
                        });
                        s.Left.Parameters[2].Value = (object?)row.Detail ?? DBNull.Value;
                        s.Left.ExecuteNonQuery();
                    }
                    else
                    {
                        _duplicates++;
                    }
                }
                else
                {
                    _duplicates++;
                }
            }

            if (changed is not null && row.Suppress is { } reason)
            {
                s.Suppress.Parameters[0].Value = row.EmailHash;
                s.Suppress.Parameters[1].Value = (int)reason;
                s.Suppress.ExecuteNonQuery();
            }
        }

        public override Task<ImportCounts> FlushAsync(DbTransaction tx, CancellationToken ct)
        {
            var counts = new ImportCounts(_importedCount, _duplicates, _suppressedCount, _notMailed);
            (_importedCount, _duplicates, _suppressedCount, _notMailed) = (0, 0, 0, 0);
            return Task.FromResult(counts);
        }

        public override void Dispose()
        {
            _platform?.Dispose();
            _insertSame.Dispose();
            _insertOther.Dispose();
            _tag.Dispose();
            _imported.Dispose();
            _suppressed.Dispose();
        }

        /// <summary>
        /// The text form EF Core's SQLite provider uses for DateTime, so imported rows sort with the rest. A file has few
        /// distinct dates (a sign-up date per row, often only the day), but they alternate from row to row, so each is
        /// formatted once and kept; the cache is bounded, so a file of all-different timestamps only formats each.
        /// </summary>
        private string Text(DateTime utc)
        {
            if (_dates.TryGetValue(utc, out var text))
            {
                return text;
            }

            text = utc.ToString(DateFormat, CultureInfo.InvariantCulture);
            if (_dates.Count < 4096)
            {
                _dates.Add(utc, text);
            }

            return text;
        }

        /// <summary>
        /// What is the same for every row is written into the statement: the status is a number and the source is
        /// "import:" and a number. The consent record is the author's text, so it is a parameter (bound once), and no
        /// author text becomes SQL.
        /// </summary>
        private static string InsertSql(ImportTarget target, bool sameKey) => string.Create(CultureInfo.InvariantCulture, $"""
            INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "ConsentSource", "CreatedAt", "ConfirmedAt", "TokenVersion")
            SELECT $email, {(sameKey ? "$email" : "$key")}, $name, {(int)target.Status}, 'import:{target.ImportId}', $consent, $created, $confirmed, 0
            WHERE NOT EXISTS (SELECT 1 FROM "Suppressions" WHERE "EmailHash" = $hash)
            ON CONFLICT ("EmailKey") DO NOTHING
            """);

        /// <summary>
        /// The insert of a plain row, its parameters looked up once. The import's consent record is the same on every row:
        /// bound once, not looked up in SubscriberImports per row.
        /// </summary>
        private sealed class Insert : IDisposable
        {
            private readonly SqliteRawStatement _statement;
            private readonly int _email, _name, _created, _confirmed, _hash, _key;

            public Insert(SqliteConnection connection, ImportTarget target, bool sameKey)
            {
                _statement = new SqliteRawStatement(connection, InsertSql(target, sameKey));
                _email = _statement.Index("$email");
                _name = _statement.Index("$name");
                _created = _statement.Index("$created");
                _confirmed = _statement.Index("$confirmed");
                _hash = _statement.Index("$hash");
                _key = sameKey ? 0 : _statement.Index("$key");
                _statement.Bind(_statement.Index("$consent"), target.ConsentSource);
            }

            /// <summary>The new reader's id, or null when the address is on the list already or suppressed.</summary>
            public long? Run(in ImportRow row, string created, string? confirmed)
            {
                _statement.Bind(_email, row.Email);
                _statement.Bind(_name, row.Name);
                _statement.Bind(_created, created);
                _statement.Bind(_confirmed, confirmed);
                _statement.Bind(_hash, row.EmailHash);
                if (_key > 0)
                {
                    _statement.Bind(_key, row.Key);
                }

                return _statement.Insert();
            }

            public void Dispose() => _statement.Dispose();
        }

        /// <summary>The statements only an export from another platform needs, prepared on its first such row.</summary>
        private sealed class PlatformStatements : IDisposable
        {
            public PlatformStatements(SqliteConnection connection, ImportTarget target)
            {
                var at = target.At.ToString(DateFormat, CultureInfo.InvariantCulture);
                var receiving = string.Create(CultureInfo.InvariantCulture, $"({(int)SubscriberStatus.Pending}, {(int)SubscriberStatus.Active})");
                Insert = Prepare(connection, string.Create(CultureInfo.InvariantCulture, $"""
                    INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "ConsentSource", "CreatedAt", "ConfirmedAt", "UnsubscribedAt", "TokenVersion")
                    SELECT $email, $key, $name, COALESCE($status, {(int)target.Status}), 'import:{target.ImportId}',
                        COALESCE($consent, (SELECT "ConsentSource" FROM "SubscriberImports" WHERE "Id" = {target.ImportId})), $created, $confirmed, $left, 0
                    WHERE NOT EXISTS (SELECT 1 FROM "Suppressions" WHERE "EmailHash" = $hash)
                    ON CONFLICT ("EmailKey") DO NOTHING
                    RETURNING "Id"
                    """), "$email", "$key", "$name", "$status", "$consent", "$created", "$confirmed", "$left", "$hash");
                Imported = Prepare(connection, string.Create(CultureInfo.InvariantCulture, $"""
                    INSERT INTO "SubscriberEvents" ("SubscriberId", "At", "Kind", "Source", "Detail") VALUES ($id, '{at}', {(int)SubscriberEventKind.Imported}, 'import:{target.ImportId}', $detail)
                    """), "$id", "$detail");
                // A reader who came back here by themselves after leaving there stays: their own confirmation is newer.
                Leave = Prepare(connection, string.Create(CultureInfo.InvariantCulture, $"""
                    UPDATE "Subscribers" SET "Status" = $status, "UnsubscribedAt" = COALESCE($left, '{at}')
                    WHERE "EmailKey" = $key AND "Status" IN {receiving}
                      AND NOT ("Source" NOT LIKE 'import:%' AND "ConfirmedAt" IS NOT NULL AND $left IS NOT NULL AND "ConfirmedAt" > $left)
                    RETURNING "Id"
                    """), "$status", "$left", "$key");
                Left = Prepare(connection, string.Create(CultureInfo.InvariantCulture, $"""
                    INSERT INTO "SubscriberEvents" ("SubscriberId", "At", "Kind", "Source", "Detail") VALUES ($id, '{at}', $kind, 'import:{target.ImportId}', $detail)
                    """), "$id", "$kind", "$detail");
                Suppress = Prepare(connection, string.Create(CultureInfo.InvariantCulture, $"""
                    INSERT INTO "Suppressions" ("EmailHash", "Reason", "CreatedAt") VALUES ($hash, $reason, '{at}') ON CONFLICT ("EmailHash") DO NOTHING
                    """), "$hash", "$reason");
            }

            public SqliteCommand Insert { get; }

            public SqliteCommand Imported { get; }

            public SqliteCommand Leave { get; }

            public SqliteCommand Left { get; }

            public SqliteCommand Suppress { get; }

            public void SetTransaction(SqliteTransaction tx) =>
                Insert.Transaction = Imported.Transaction = Leave.Transaction = Left.Transaction = Suppress.Transaction = tx;

            public void Dispose()
            {
                Insert.Dispose();
                Imported.Dispose();
                Leave.Dispose();
                Left.Dispose();
                Suppress.Dispose();
            }
        }

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

    // The merge runs in the server while the importer waits, and the importer's parsing and COPY run while the
    // server waits: on a second connection the next batch is read and copied while the last one merges.
    // CloneWith keeps the password, which an open connection's ConnectionString no longer shows.
    public override DbConnection? OverlapConnection(DbConnection connection) =>
        ((NpgsqlConnection)connection).CloneWith(connection.ConnectionString);

    // For the batch's transaction only: the merge's row estimates over a fresh staging table are far too high,
    // and PostgreSQL then spent most of a batch JIT-compiling the merge (0.8 s of 2.8 s for 50,000 rows), and
    // its sorts of a batch spilled to disk with the default work_mem.
    private const string Stage = """
        SET LOCAL jit = off;
        SET LOCAL work_mem = '64MB';
        CREATE TEMP TABLE "ImportRows" (
            "Seq" integer NOT NULL, "Email" text NOT NULL, "EmailKey" text NOT NULL, "Name" text,
            "CreatedAt" timestamptz NOT NULL, "ConfirmedAt" timestamptz, "EmailHash" text NOT NULL, "Tags" text[] NOT NULL,
            "Status" integer, "Consent" text, "LeftAt" timestamptz, "Detail" text
        ) ON COMMIT DROP
        """;

    private const string Copy = """
        COPY "ImportRows" ("Seq", "Email", "EmailKey", "Name", "CreatedAt", "ConfirmedAt", "EmailHash", "Tags", "Status", "Consent", "LeftAt", "Detail") FROM STDIN (FORMAT BINARY)
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
            INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "ConsentSource", "CreatedAt", "ConfirmedAt", "UnsubscribedAt", "TokenVersion")
            SELECT f."Email", f."EmailKey", f."Name", COALESCE(f."Status", @status), @source, COALESCE(f."Consent", @consent), f."CreatedAt", f."ConfirmedAt", f."LeftAt", 0
            FROM "First" f
            WHERE NOT EXISTS (SELECT 1 FROM "Suppressions" x WHERE x."EmailHash" = f."EmailHash")
            ORDER BY f."Seq"
            ON CONFLICT ("EmailKey") DO NOTHING
            RETURNING "Id", "EmailKey", "Status"
        ), "Tagged" AS (
            INSERT INTO "SubscriberTags" ("SubscriberId", "Tag")
            SELECT a."Id", t."Tag" FROM "Added" a JOIN "First" f ON f."EmailKey" = a."EmailKey" CROSS JOIN LATERAL unnest(f."Tags") AS t("Tag")
            ON CONFLICT DO NOTHING
        ), "Recorded" AS (
            INSERT INTO "SubscriberEvents" ("SubscriberId", "At", "Kind", "Source", "Detail")
            SELECT a."Id", @at, @kind, @source, f."Detail" FROM "Added" a JOIN "First" f ON f."EmailKey" = a."EmailKey"
        )
        SELECT (SELECT count(*) FROM "Added")::int,
               (SELECT count(*) FROM "ImportRows" r WHERE EXISTS (SELECT 1 FROM "Suppressions" x WHERE x."EmailHash" = r."EmailHash"))::int,
               (SELECT count(*) FROM "ImportRows")::int,
               (SELECT count(*) FROM "Added" WHERE "Status" = ANY(@leaving))::int
        """;

    // Run after the merge, only for a batch with leaving rows: the first leaving row of each address moves a reader
    // on the list (added by an earlier batch, an earlier file, or the merge just now) who is still active or pending,
    // unless they confirmed here by themselves after leaving there; bounces and complaints that added or moved a
    // reader suppress the address. The same rules as the SQLite form's statements, for the batch at once.
    private const string Leave = """
        WITH "Leaving" AS (
            SELECT DISTINCT ON ("EmailKey") * FROM "ImportRows" WHERE "Status" = ANY(@leaving) ORDER BY "EmailKey", "Seq"
        ), "Moved" AS (
            UPDATE "Subscribers" s SET "Status" = l."Status", "UnsubscribedAt" = COALESCE(l."LeftAt", @at)
            FROM "Leaving" l
            WHERE s."EmailKey" = l."EmailKey" AND s."Status" = ANY(@receiving)
              AND NOT (s."Source" NOT LIKE 'import:%' AND s."ConfirmedAt" IS NOT NULL AND l."LeftAt" IS NOT NULL AND s."ConfirmedAt" > l."LeftAt")
            RETURNING s."Id", s."EmailKey", l."Status" AS "NewStatus", l."Detail"
        ), "Recorded" AS (
            INSERT INTO "SubscriberEvents" ("SubscriberId", "At", "Kind", "Source", "Detail")
            SELECT m."Id", @at, CASE m."NewStatus" WHEN @bounced THEN @bouncedKind WHEN @complained THEN @complainedKind ELSE @unsubscribedKind END, @source, m."Detail"
            FROM "Moved" m
        ), "Suppressed" AS (
            INSERT INTO "Suppressions" ("EmailHash", "Reason", "CreatedAt")
            SELECT l."EmailHash", CASE l."Status" WHEN @bounced THEN @hardBounce ELSE @complaint END, @at
            FROM "Leaving" l
            WHERE l."Status" IN (@bounced, @complained)
              AND (l."EmailKey" IN (SELECT "EmailKey" FROM "Moved")
                   OR EXISTS (SELECT 1 FROM "Subscribers" s WHERE s."EmailKey" = l."EmailKey" AND s."Source" = @source AND s."Status" = l."Status"))
            ON CONFLICT ("EmailHash") DO NOTHING
        )
        SELECT count(*)::int FROM "Moved"
        """;

    private sealed class Batch(NpgsqlConnection connection, ImportTarget target) : ImportBatchWriter
    {
        private NpgsqlBinaryImporter? _copy;
        private int _seq;
        private bool _leaving;

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
            if (row.Status is { } status)
            {
                _copy.Write((int)status, NpgsqlDbType.Integer);
            }
            else
            {
                _copy.WriteNull();
            }

            Write(row.Consent);
            if (row.LeftAt is { } left)
            {
                _copy.Write(left, NpgsqlDbType.TimestampTz);
            }
            else
            {
                _copy.WriteNull();
            }

            Write(row.Detail);
            _leaving |= row.Leaving;
        }

        private void Write(string? text)
        {
            if (text is null)
            {
                _copy!.WriteNull();
            }
            else
            {
                _copy!.Write(text, NpgsqlDbType.Text);
            }
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
            merge.Parameters.AddWithValue("leaving", LeavingStatuses);
            int imported, suppressed, staged, leftNew;
            await using (var reader = await merge.ExecuteReaderAsync(ct))
            {
                await reader.ReadAsync(ct);
                (imported, suppressed, staged, leftNew) = (reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3));
            }

            var moved = 0;
            if (_leaving)
            {
                _leaving = false;
                await using var leave = new NpgsqlCommand(Leave, connection, (NpgsqlTransaction)tx);
                leave.Parameters.AddWithValue("leaving", LeavingStatuses);
                leave.Parameters.AddWithValue("receiving", new[] { (int)SubscriberStatus.Pending, (int)SubscriberStatus.Active });
                leave.Parameters.AddWithValue("at", NpgsqlDbType.TimestampTz, target.At);
                leave.Parameters.AddWithValue("source", target.Source);
                leave.Parameters.AddWithValue("bounced", (int)SubscriberStatus.Bounced);
                leave.Parameters.AddWithValue("complained", (int)SubscriberStatus.Complained);
                leave.Parameters.AddWithValue("bouncedKind", (int)SubscriberEventKind.Bounced);
                leave.Parameters.AddWithValue("complainedKind", (int)SubscriberEventKind.Complained);
                leave.Parameters.AddWithValue("unsubscribedKind", (int)SubscriberEventKind.Unsubscribed);
                leave.Parameters.AddWithValue("hardBounce", (int)SuppressionReason.HardBounce);
                leave.Parameters.AddWithValue("complaint", (int)SuppressionReason.Complaint);
                moved = (int)(await leave.ExecuteScalarAsync(ct))!;
            }

            // A moved reader's row was counted among the duplicates by the merge; it did something after all.
            return new ImportCounts(imported, staged - imported - suppressed - moved, suppressed, leftNew + moved);
        }

        private static readonly int[] LeavingStatuses = [(int)SubscriberStatus.Unsubscribed, (int)SubscriberStatus.Bounced, (int)SubscriberStatus.Complained];

        public override void Dispose()
        {
            // A batch cut off by a failure: its COPY is cancelled, and the rollback takes the staging table.
            _copy?.Dispose();
            _copy = null;
        }
    }
}
