using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// The delivery ledger's statements where SQLite and PostgreSQL differ: how a claim takes its rows and
/// how the rate bucket is locked. Everything else the ledger says is plain SQL both understand, so the
/// rules (what is due, what becomes uncertain, what is held) live once, in Sending/Ledger.cs.
/// </summary>
/// <remarks>
/// Parameters every claim statement may use: @issue, @owner, @now, @until, @max, and the statuses @pending,
/// @sending, @deferred. Each returns "Id", "SubscriberId", "Attempts", "Uncertain" of the rows it took.
/// </remarks>
public abstract class LedgerSql
{
    /// <summary>The claim's transaction: it must make two claimers take disjoint rows and read the bucket one at a time.</summary>
    public abstract IsolationLevel ClaimIsolation { get; }

    /// <summary>Reads one rate bucket (@key), locked until the claim's transaction ends.</summary>
    public abstract string ReadBucket { get; }

    /// <summary>Run in order, each with @max set to what is still wanted, until one returns fewer rows.</summary>
    public abstract IReadOnlyList<string> Claim { get; }

    /// <summary>
    /// Writes outcomes with <paramref name="command"/> (in the group commit's transaction, holding @now, @sent
    /// and @sending) and returns how many rows were still their owner's. Each row changes only while its owner
    /// still holds it, so a worker whose lease was taken over cannot overwrite the new owner's result.
    /// </summary>
    public abstract int Record(DbCommand command, IReadOnlyList<OwnedOutcome> outcomes);

    /// <summary>
    /// Marks rows as in flight (their messages are about to start) with <paramref name="command"/> (holding
    /// @sending) and returns the Ids that were still their owner's: only those may be sent.
    /// </summary>
    public abstract HashSet<long> MarkInFlight(DbCommand command, IReadOnlyList<(string Owner, long DeliveryId)> rows);

    /// <summary>
    /// A group commit's outcomes and marks (as <see cref="Record"/> and <see cref="MarkInFlight"/>) written
    /// atomically in one round trip on <paramref name="connection"/>, outside any transaction; null where the
    /// database has no such form, and the ledger writes them in a transaction of its own.
    /// </summary>
    public virtual HashSet<long>? WriteInOneTrip(DbConnection connection, IReadOnlyList<OwnedOutcome> outcomes, IReadOnlyList<(string Owner, long DeliveryId)> starting, long now, int sent, int sending) => null;

    /// <summary>
    /// The group commit's statements prepared once on <paramref name="connection"/>, which the caller holds open for as
    /// long as it keeps them (the outcome writer, for its scope's life); null where the database has no such form.
    /// </summary>
    public virtual KeptLedgerWrites? Keep(DbConnection connection) => null;

    /// <summary>An error text as the ledger keeps it: at most 1,000 characters.</summary>
    protected static string? Clip(string? error) => error is { Length: > 1000 } ? error[..1000] : error;

    /// <summary>
    /// The Ids a maintenance statement (renew, expire, hold) may change, from a WHERE condition on "Deliveries".
    /// On PostgreSQL rows another transaction holds are passed over, not waited for: they are being recorded
    /// or claimed right now, and the next heartbeat sees them again. Waiting instead let a heartbeat and a
    /// worker's outcome write lock the same rows in different orders, and PostgreSQL killed one as a deadlock.
    /// </summary>
    public abstract string Rows(string where);

    // Shared by both forms: the SET clause of a claim. In an UPDATE every right-hand side sees the old row,
    // so "Status" = @sending AND "InFlight" here means its lease ran out with the message started and no
    // outcome written: the relay may have it, and whoever sends it again must say that a reader may get two
    // copies. A row the dead worker had claimed but not reached was never sent, and is taken as it was.
    protected const string TakeRows = """
        UPDATE "Deliveries"
        SET "Uncertain" = ("Uncertain" OR ("Status" = @sending AND "InFlight")), "InFlight" = FALSE,
            "Status" = @sending, "LeaseOwner" = @owner, "LeaseExpiresAtMs" = @until, "Attempts" = "Attempts" + 1
        """;

}

public sealed class SqliteLedgerSql : LedgerSql
{
    // BEGIN IMMEDIATE in Microsoft.Data.Sqlite: the write lock is taken at the start, so the bucket read
    // and the claim see no other writer at all.
    public override IsolationLevel ClaimIsolation => IsolationLevel.Serializable;

    public override string ReadBucket => """SELECT "Tokens", "UpdatedAtMs" FROM "SendRateBuckets" WHERE "Key" = @key""";

    public override string Rows(string where) => $"""SELECT "Id" FROM "Deliveries" WHERE {where}""";

    // In-process SQLite: a prepared statement per row costs microseconds, less than building one big statement.
    public override int Record(DbCommand command, IReadOnlyList<OwnedOutcome> outcomes)
    {
        command.CommandText = RecordSql;
        var (status, code, error, next, id, owner) = (Add(command, "@status", DbType.Int32), Add(command, "@code", DbType.Int32), Add(command, "@error", DbType.String),
            Add(command, "@next", DbType.Int64), Add(command, "@id", DbType.Int64), Add(command, "@owner", DbType.String));
        var written = 0;
        foreach (var (by, o) in outcomes)
        {
            status.Value = (int)o.Status;
            code.Value = (object?)o.SmtpCode ?? DBNull.Value;
            error.Value = (object?)Clip(o.Error) ?? DBNull.Value;
            next.Value = o.NextAttemptAtMs;
            id.Value = o.DeliveryId;
            owner.Value = by;
            written += command.ExecuteNonQuery();
        }

        return written;
    }

    public override HashSet<long> MarkInFlight(DbCommand command, IReadOnlyList<(string Owner, long DeliveryId)> rows)
    {
        command.CommandText = MarkSql;
        var (id, owner) = (Add(command, "@id", DbType.Int64), Add(command, "@owner", DbType.String));
        var marked = new HashSet<long>();
        foreach (var row in rows)
        {
            id.Value = row.DeliveryId;
            owner.Value = row.Owner;
            if (command.ExecuteNonQuery() == 1)
            {
                marked.Add(row.DeliveryId);
            }
        }

        return marked;
    }

    public override KeptLedgerWrites? Keep(DbConnection connection) => new SqliteKeptWrites((SqliteConnection)connection);

    /// <summary>
    /// A group commit through SQLite's own API on statements prepared once: Microsoft.Data.Sqlite's pool finalises a
    /// connection's commands when it is handed back, so every group parsed and planned its two UPDATEs again, and its
    /// BEGIN and COMMIT, for commits of two rows or so (one worker's outcome and its next message's mark).
    /// </summary>
    private sealed class SqliteKeptWrites : KeptLedgerWrites
    {
        // What Microsoft.Data.Sqlite waits for a busy database before it gives up (its default timeout); each try
        // also waits the connection's busy_timeout inside SQLite.
        private static readonly TimeSpan BusyFor = TimeSpan.FromSeconds(30);

        private readonly SqliteRawStatement _begin, _commit, _rollback, _record, _mark;
        private readonly int _status, _code, _error, _next, _id, _owner, _now, _sent, _sending, _markId, _markOwner, _markSending;
        private readonly SqliteConnection _connection;

        public SqliteKeptWrites(SqliteConnection connection)
        {
            _connection = connection;
            _begin = new SqliteRawStatement(connection, "BEGIN IMMEDIATE");
            _commit = new SqliteRawStatement(connection, "COMMIT");
            _rollback = new SqliteRawStatement(connection, "ROLLBACK");
            _record = new SqliteRawStatement(connection, RecordSql);
            _mark = new SqliteRawStatement(connection, MarkSql);
            (_status, _code, _error, _next, _id, _owner) = (_record.Index("@status"), _record.Index("@code"), _record.Index("@error"), _record.Index("@next"), _record.Index("@id"), _record.Index("@owner"));
            (_now, _sent, _sending) = (_record.Index("@now"), _record.Index("@sent"), _record.Index("@sending"));
            (_markId, _markOwner, _markSending) = (_mark.Index("@id"), _mark.Index("@owner"), _mark.Index("@sending"));
        }

        public override bool IsFor(DbConnection connection) => connection is SqliteConnection c && _begin.IsOn(c);

        public override HashSet<long> Write(IReadOnlyList<OwnedOutcome> outcomes, IReadOnlyList<(string Owner, long DeliveryId)> starting, long now, int sent, int sending)
        {
            Begin();
            try
            {
                _record.Bind(_now, now);
                _record.Bind(_sent, sent);
                _record.Bind(_sending, sending);
                foreach (var (by, o) in outcomes)
                {
                    _record.Bind(_status, (int)o.Status);
                    _record.Bind(_code, (long?)o.SmtpCode);
                    _record.Bind(_error, Clip(o.Error));
                    _record.Bind(_next, o.NextAttemptAtMs);
                    _record.Bind(_id, o.DeliveryId);
                    _record.Bind(_owner, by);
                    _record.Run();
                }

                var marked = new HashSet<long>();
                _mark.Bind(_markSending, sending);
                foreach (var (owner, id) in starting)
                {
                    _mark.Bind(_markId, id);
                    _mark.Bind(_markOwner, owner);
                    if (_mark.Run() == 1)
                    {
                        marked.Add(id);
                    }
                }

                _commit.Run();
                return marked;
            }
            catch
            {
                // Nothing of a failed group stays: its workers hand their batches back, as after any failed write.
                if (_connection.Handle is { } db && SQLitePCL.raw.sqlite3_get_autocommit(db) == 0)
                {
                    _rollback.Run();
                }

                throw;
            }
        }

        private void Begin()
        {
            var giveUpAt = Environment.TickCount64 + (long)BusyFor.TotalMilliseconds;
            while (true)
            {
                try
                {
                    _begin.Run();
                    return;
                }
                catch (SqliteException e) when ((e.SqliteErrorCode & 0xFF) == SQLitePCL.raw.SQLITE_BUSY && Environment.TickCount64 < giveUpAt)
                {
                    // Another process's writer held the lock for longer than busy_timeout: try again until BusyFor.
                }
            }
        }

        public override void Dispose()
        {
            _begin.Dispose();
            _commit.Dispose();
            _rollback.Dispose();
            _record.Dispose();
            _mark.Dispose();
        }
    }

    private const string RecordSql = """
        UPDATE "Deliveries" SET "Status" = @status, "SmtpCode" = @code, "LastError" = @error, "NextAttemptAtMs" = @next,
            "SentAtMs" = CASE WHEN @status = @sent THEN @now ELSE "SentAtMs" END, "LastAttemptAtMs" = @now, "LeaseOwner" = NULL, "LeaseExpiresAtMs" = 0,
            "InFlight" = FALSE
        WHERE "Id" = @id AND "LeaseOwner" = @owner AND "Status" = @sending
        """;

    private const string MarkSql = """
        UPDATE "Deliveries" SET "InFlight" = TRUE WHERE "Id" = @id AND "LeaseOwner" = @owner AND "Status" = @sending
        """;

    private static DbParameter Add(DbCommand command, string name, DbType type)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.DbType = type;
        command.Parameters.Add(p);
        return p;
    }

    // One index seek per state, each stopping at @max rows: expired leases first (a dead worker's batch),
    // then deferred rows that are due, then pending ones in snapshot order. A single OR'ed filter sorted
    // by Id read every row of the issue on every claim, and a million-reader send slowed to a crawl.
    public override IReadOnlyList<string> Claim { get; } =
    [
        TakeRows + """

        WHERE "Id" IN (
            SELECT "Id" FROM (SELECT "Id" FROM "Deliveries" WHERE "IssueId" = @issue AND "Status" = @sending AND "LeaseExpiresAtMs" < @now LIMIT @max)
            UNION ALL
            SELECT "Id" FROM (SELECT "Id" FROM "Deliveries" WHERE "IssueId" = @issue AND "Status" = @deferred AND "NextAttemptAtMs" <= @now LIMIT @max)
            UNION ALL
            SELECT "Id" FROM (SELECT "Id" FROM "Deliveries" WHERE "IssueId" = @issue AND "Status" = @pending AND "NextAttemptAtMs" <= @now LIMIT @max)
            LIMIT @max)
        RETURNING "Id", "SubscriberId", "Attempts", "Uncertain"
        """,
    ];
}

public sealed class PostgresLedgerSql : LedgerSql
{
    // Read committed with explicit row locks: the bucket row is locked FOR UPDATE (one claimer at a time
    // draws tokens), and SKIP LOCKED lets claimers on every node take disjoint rows without waiting.
    public override IsolationLevel ClaimIsolation => IsolationLevel.ReadCommitted;

    public override string ReadBucket => """SELECT "Tokens", "UpdatedAtMs" FROM "SendRateBuckets" WHERE "Key" = @key FOR UPDATE""";

    public override string Rows(string where) => $"""SELECT "Id" FROM "Deliveries" WHERE {where} FOR UPDATE SKIP LOCKED""";

    // One statement for the whole group: single-row UPDATEs were a round trip each, and fifty of them took
    // 76 ms where one UPDATE ... FROM unnest takes 2 (pgbench, four clients).
    private const string RecordSql = """
        UPDATE "Deliveries" AS d
        SET "Status" = u.status, "SmtpCode" = u.code, "LastError" = u.error, "NextAttemptAtMs" = u.next,
            "SentAtMs" = CASE WHEN u.status = @sent THEN @now ELSE d."SentAtMs" END, "LastAttemptAtMs" = @now, "LeaseOwner" = NULL, "LeaseExpiresAtMs" = 0,
            "InFlight" = FALSE
        FROM unnest(@ids, @statuses, @codes, @errors, @nexts, @owners) AS u(id, status, code, error, next, owner)
        WHERE d."Id" = u.id AND d."LeaseOwner" = u.owner AND d."Status" = @sending
        """;

    private const string MarkSql = """
        UPDATE "Deliveries" AS d SET "InFlight" = TRUE
        FROM unnest(@ids, @owners) AS u(id, owner)
        WHERE d."Id" = u.id AND d."LeaseOwner" = u.owner AND d."Status" = @sending
        RETURNING d."Id"
        """;

    public override int Record(DbCommand command, IReadOnlyList<OwnedOutcome> outcomes)
    {
        command.CommandText = RecordSql;
        RecordParameters(command.Parameters, command.CreateParameter, outcomes);
        return command.ExecuteNonQuery();
    }

    public override HashSet<long> MarkInFlight(DbCommand command, IReadOnlyList<(string Owner, long DeliveryId)> rows)
    {
        command.CommandText = MarkSql;
        MarkParameters(command.Parameters, command.CreateParameter, rows);
        using var reader = command.ExecuteReader();
        return Marked(reader);
    }

    // One batch is one round trip, and PostgreSQL runs a batch sent outside a transaction as one implicit
    // transaction: both statements commit together or neither does, as in the ledger's own transaction, which
    // cost three round trips (the marks, the outcomes, the COMMIT) while every send worker waited on it.
    public override HashSet<long>? WriteInOneTrip(DbConnection connection, IReadOnlyList<OwnedOutcome> outcomes, IReadOnlyList<(string Owner, long DeliveryId)> starting, long now, int sent, int sending)
    {
        using var batch = connection.CreateBatch();
        if (starting.Count > 0)
        {
            var mark = batch.CreateBatchCommand();
            mark.CommandText = MarkSql;
            MarkParameters(mark.Parameters, mark.CreateParameter, starting);
            Add(mark.Parameters, mark.CreateParameter, "@sending", sending);
            batch.BatchCommands.Add(mark);
        }

        if (outcomes.Count > 0)
        {
            var record = batch.CreateBatchCommand();
            record.CommandText = RecordSql;
            RecordParameters(record.Parameters, record.CreateParameter, outcomes);
            Add(record.Parameters, record.CreateParameter, "@sent", sent);
            Add(record.Parameters, record.CreateParameter, "@now", now);
            Add(record.Parameters, record.CreateParameter, "@sending", sending);
            batch.BatchCommands.Add(record);
        }

        using var reader = batch.ExecuteReader();
        var marked = starting.Count > 0 ? Marked(reader) : [];
        // Read to the end: an error in the outcomes' statement surfaces here, and the batch is rolled back.
        while (reader.NextResult())
        {
        }

        return marked;
    }

    private static void RecordParameters(DbParameterCollection to, Func<DbParameter> create, IReadOnlyList<OwnedOutcome> outcomes)
    {
        Add(to, create, "@ids", outcomes.Select(o => o.Outcome.DeliveryId).ToArray());
        Add(to, create, "@statuses", outcomes.Select(o => (int)o.Outcome.Status).ToArray());
        Add(to, create, "@codes", outcomes.Select(o => o.Outcome.SmtpCode).ToArray());
        Add(to, create, "@errors", outcomes.Select(o => Clip(o.Outcome.Error)).ToArray());
        Add(to, create, "@nexts", outcomes.Select(o => o.Outcome.NextAttemptAtMs).ToArray());
        Add(to, create, "@owners", outcomes.Select(o => o.Owner).ToArray());
    }

    private static void MarkParameters(DbParameterCollection to, Func<DbParameter> create, IReadOnlyList<(string Owner, long DeliveryId)> rows)
    {
        Add(to, create, "@ids", rows.Select(r => r.DeliveryId).ToArray());
        Add(to, create, "@owners", rows.Select(r => r.Owner).ToArray());
    }

    private static HashSet<long> Marked(DbDataReader reader)
    {
        var marked = new HashSet<long>();
        while (reader.Read())
        {
            marked.Add(reader.GetInt64(0));
        }

        return marked;
    }

    private static void Add(DbParameterCollection to, Func<DbParameter> create, string name, object values)
    {
        var p = create();
        p.ParameterName = name;
        p.Value = values;
        to.Add(p);
    }

    public override IReadOnlyList<string> Claim { get; } =
    [
        Take("""("Status" = @sending AND "LeaseExpiresAtMs" < @now)"""),
        Take("""("Status" = @deferred AND "NextAttemptAtMs" <= @now)"""),
        Take("""("Status" = @pending AND "NextAttemptAtMs" <= @now)"""),
    ];

    private static string Take(string due) => TakeRows + $"""

        WHERE "Id" IN (SELECT "Id" FROM "Deliveries" WHERE "IssueId" = @issue AND {due} LIMIT @max FOR UPDATE SKIP LOCKED)
        RETURNING "Id", "SubscriberId", "Attempts", "Uncertain"
        """;
}

/// <summary>A group commit's statements kept on one open connection (<see cref="LedgerSql.Keep"/>).</summary>
public abstract class KeptLedgerWrites : IDisposable
{
    /// <summary>Whether these statements belong to <paramref name="connection"/> as it is open now.</summary>
    public abstract bool IsFor(DbConnection connection);

    /// <summary>The outcomes and marks in one transaction of their own, as Ledger.Write writes them; returns the rows marked.</summary>
    public abstract HashSet<long> Write(IReadOnlyList<OwnedOutcome> outcomes, IReadOnlyList<(string Owner, long DeliveryId)> starting, long now, int sent, int sending);

    public abstract void Dispose();
}
