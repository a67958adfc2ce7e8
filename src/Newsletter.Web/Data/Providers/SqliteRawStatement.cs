using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// A statement prepared once on an open connection and run through SQLite's own API, for a loop that runs it a million
/// times (an import). Microsoft.Data.Sqlite binds every parameter again and builds a data reader on each execution, taking
/// and releasing a SafeHandle reference around every native call; here a value bound once (the import's consent record)
/// stays bound, and an insert learns its row id from the connection instead of a RETURNING clause. It runs in whatever
/// transaction the connection has open. Not thread-safe; disposed before its connection closes.
/// </summary>
internal sealed class SqliteRawStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public SqliteRawStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        var rc = raw.sqlite3_prepare_v2(_db, sql, out var statement);
        if (rc != raw.SQLITE_OK)
        {
            statement?.Dispose();
            SqliteException.ThrowExceptionForRC(rc, _db);
        }

        _statement = statement!;
    }

    /// <summary>The position of a named parameter, for the Bind calls; a name the SQL does not have is a programming error.</summary>
    public int Index(string name)
    {
        var index = raw.sqlite3_bind_parameter_index(_statement, name);
        return index > 0 ? index : throw new ArgumentException($"The statement has no parameter {name}.", nameof(name));
    }

    /// <summary>Binds a value that stays bound for every run until it is bound again.</summary>
    public void Bind(int index, string? value) =>
        Check(value is null ? raw.sqlite3_bind_null(_statement, index) : raw.sqlite3_bind_text(_statement, index, value));

    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    public void Bind(int index, long? value) => Check(value is { } v ? raw.sqlite3_bind_int64(_statement, index, v) : raw.sqlite3_bind_null(_statement, index));

    /// <summary>Runs the statement; for an INSERT, UPDATE or DELETE, returns the rows it changed itself (for others, ignore the number).</summary>
    public int Run()
    {
        Step();
        return raw.sqlite3_changes(_db);
    }

    /// <summary>Whether this statement was prepared on <paramref name="connection"/>'s open native connection.</summary>
    public bool IsOn(SqliteConnection connection) => connection.State == System.Data.ConnectionState.Open && ReferenceEquals(connection.Handle, _db);

    /// <summary>
    /// Runs an INSERT: the row id of the row it added, or null when it added none (a conflict it was told to ignore, or a
    /// WHERE that kept the row out). SQLite counts only the statement's own rows, never a trigger's, and its last row id
    /// is the statement's once its triggers are done.
    /// </summary>
    public long? Insert()
    {
        Step();
        return raw.sqlite3_changes(_db) > 0 ? raw.sqlite3_last_insert_rowid(_db) : null;
    }

    /// <summary>Runs a query and says whether it returned a row.</summary>
    public bool Any() => Step();

    public void Dispose() => _statement.Dispose();

    private bool Step()
    {
        var rc = raw.sqlite3_step(_statement);
        try
        {
            if (rc is not (raw.SQLITE_ROW or raw.SQLITE_DONE))
            {
                // Thrown before the reset, while the connection's error message is still this statement's.
                SqliteException.ThrowExceptionForRC(rc, _db);
            }

            return rc == raw.SQLITE_ROW;
        }
        finally
        {
            raw.sqlite3_reset(_statement);
        }
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }
}
