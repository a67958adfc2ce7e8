using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Hangfire.Logging;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// Opens a fresh pooled connection per operation, so no connection is ever shared between threads, and runs every write
/// in an immediate transaction: a deferred one that reads first can fail with SQLITE_BUSY_SNAPSHOT, which no busy timeout
/// resolves.
/// </summary>
internal sealed class SqliteDatabase
{
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;

    private static readonly ILog Logger = LogProvider.GetLogger(typeof(SqliteStorage));
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> Configured = new();
    private static readonly object Marker = new();
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> WriteGates = new(StringComparer.Ordinal);

    [ThreadStatic]
    private static bool _insideGate;

    private readonly SemaphoreSlim _writeGate;

    private readonly string _connectionString;
    private readonly string _pragmas;
    private readonly int _retryAttempts;

    public SqliteDatabase(SqliteStorageOptions options)
    {
        FilePath = System.IO.Path.GetFullPath(options.Path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = FilePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.BusyTimeout.TotalSeconds)),
        }.ToString();

        // Per connection, not stored in the file. synchronous=NORMAL is
        // safe in WAL mode: a process crash loses nothing, a power cut may lose the last commits but never corrupts.
        _pragmas = string.Create(
            CultureInfo.InvariantCulture,
            $"PRAGMA busy_timeout = {(long)options.BusyTimeout.TotalMilliseconds}; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = {16 * 1024 * 1024};");
        _retryAttempts = options.TransactionRetryAttempts;
        _writeGate = WriteGates.GetOrAdd(FilePath, static _ => new SemaphoreSlim(1, 1));
        Parked = new ParkedLocks(this);
    }

    public string FilePath { get; }

    /// <summary>Released lock rows whose delete goes with the next write transaction.</summary>
    public ParkedLocks Parked { get; }

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();

            // Per native handle, so set once when the pool opens one; a pooled handle keeps them, and re-running three
            // pragmas on every operation cost more than some of the operations themselves.
            if (connection.Handle is { } handle && !Configured.TryGetValue(handle, out _))
            {
                using var command = connection.CreateCommand();
                command.CommandText = _pragmas;
                command.ExecuteNonQuery();
                Configured.AddOrUpdate(handle, Marker);
            }

            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public T Read<T>(Func<SqliteConnection, T> query)
    {
        using var connection = Open();
        return query(connection);
    }

    /// <summary>
    /// Runs <paramref name="body"/> in one immediate transaction. When the database stays busy past the busy timeout the
    /// whole transaction is rolled back and run again from the start, never a part of it.
    /// </summary>
    public T Write<T>(Func<SqliteConnection, T> body)
    {
        for (var attempt = 0; ; attempt++)
        {
            // Writers of this process queue here for the file's one write lock: a hand-over on a semaphore is immediate,
            // while SQLite's busy handler sleeps in growing steps and leaves the lock idle meanwhile. Other processes
            // still meet at the busy timeout. A write nested in another on the same thread skips the gate. The connection is
            // taken from the pool before the gate and returned after it, so the write lock is held for the transaction only.
            using var connection = Open();
            var gated = !_insideGate;
            if (gated)
            {
                _writeGate.Wait();
                _insideGate = true;
            }

            List<ParkedLocks.Parked>? released = null;
            var committed = false;
            try
            {
                using var transaction = connection.BeginTransaction(deferred: false);
                released = Parked.DeleteDue(connection);
                var result = body(connection);
                transaction.Commit();
                committed = true;
                SqliteStorageMetrics.WriteTransactions.Add(1);
                return result;
            }
            catch (SqliteException ex) when (IsBusy(ex) && attempt < _retryAttempts)
            {
                Logger.Warn($"The job database stayed busy ({ex.SqliteErrorCode}); retrying the whole transaction, attempt {attempt + 2} of {_retryAttempts + 1}.");
            }
            finally
            {
                if (!committed)
                {
                    Parked.Settle(released, committed: false);
                }

                if (gated)
                {
                    _insideGate = false;
                    _writeGate.Release();
                }
            }

            // Outside the gate, so this process's other writers are not held up by one that waits for another process.
            Thread.Sleep(Random.Shared.Next(10, 50 * (attempt + 1)));
        }
    }

    public void Write(Action<SqliteConnection> body) => Write(connection =>
    {
        body(connection);
        return 0;
    });

    /// <summary>Counts a statement when it runs inside this thread's write transaction; reads outside one are not the file's cost.</summary>
    public static void CountStatement()
    {
        if (_insideGate)
        {
            SqliteStorageMetrics.WriteStatements.Add(1);
        }
    }

    public static bool IsBusy(SqliteException ex) => ex.SqliteErrorCode is SqliteBusy or SqliteLocked;
}

/// <summary>Small ADO.NET helpers: every statement is parameterised; no value is ever spliced into SQL text.</summary>
internal static class SqliteCommandExtensions
{
    public static SqliteCommand Command(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        SqliteDatabase.CountStatement();
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    public static int Execute(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.Command(sql, parameters);
        return command.ExecuteNonQuery();
    }

    public static object? Scalar(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.Command(sql, parameters);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public static long Long(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        Convert.ToInt64(connection.Scalar(sql, parameters) ?? 0L, CultureInfo.InvariantCulture);

    public static List<T> List<T>(this SqliteConnection connection, string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.Command(sql, parameters);
        using var reader = command.ExecuteReader();
        var list = new List<T>();
        while (reader.Read())
        {
            list.Add(map(reader));
        }

        return list;
    }

    public static string? NullableString(this SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long? NullableLong(this SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);
}

/// <summary>Times are stored as UTC Unix milliseconds in INTEGER columns: compact, indexable and free of time-zone text.</summary>
internal static class UnixMs
{
    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public static long From(DateTime value) =>
        new DateTimeOffset(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc)).ToUnixTimeMilliseconds();

    public static DateTime ToDateTime(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value).UtcDateTime;

    public static long After(TimeSpan span) => Now() + (long)span.TotalMilliseconds;

    public static bool TryParseId(string? id, out long value) =>
        long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;

    public static string Id(long value) => value.ToString(CultureInfo.InvariantCulture);
}
