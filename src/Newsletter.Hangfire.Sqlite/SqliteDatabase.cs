using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.ExceptionServices;
using Hangfire.Logging;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// Lends each operation a connection of its own from a small pool, so no connection is ever shared between threads, and
/// runs every write in an immediate transaction (a deferred one that reads first can fail with SQLITE_BUSY_SNAPSHOT, which
/// no busy timeout resolves), together with the writes queued behind it (<see cref="Write{T}"/>). The pool is this class's
/// rather than Microsoft.Data.Sqlite's because that one closes a connection's commands when it is handed back, and every
/// statement was parsed afresh on every use; a connection kept here keeps its prepared statements
/// (<see cref="StatementCachingConnection"/>).
/// </summary>
internal sealed class SqliteDatabase
{
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;

    /// <summary>Idle connections kept: the busiest moment of a server (ten workers, its heartbeat, the expiration manager) needs no more.</summary>
    private const int MaxIdle = 16;

    private static readonly ILog Logger = LogProvider.GetLogger(typeof(SqliteStorage));
    private static readonly ConcurrentDictionary<string, Lock> WriteGates = new(StringComparer.Ordinal);

    private readonly ConcurrentStack<StatementCachingConnection> _idle = new();
    private int _idleCount;
    private volatile bool _closed;

    /// <summary>Bodies in one group: enough for every thread of a busy server, few enough that one group's latency stays short.</summary>
    private const int MaxGroup = 32;

    [ThreadStatic]
    private static bool _insideGate;

    /// <summary>Writers of this storage waiting for a leader to run their bodies; only the leader takes them out.</summary>
    private readonly ConcurrentQueue<WriteRequest> _pending = new();

    /// <summary>1 while a writer of this storage leads.</summary>
    private int _leading;

    /// <summary>Writers waiting for a leader to take their bodies; tests wait for a queue to form.</summary>
    internal int PendingWrites => _pending.Count;

    /// <summary>
    /// A <see cref="Lock"/> rather than a <see cref="SemaphoreSlim"/>: the semaphore's waiters spun through about 35
    /// yields and zero-length sleeps before each wait, 46 <c>sched_yield</c> calls per job in the jobs benchmark; the
    /// lock's spinning adapts to how long the lock is held, and it cut the CPU per job by a fifth.
    /// </summary>
    private readonly Lock _writeGate;

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
            Pooling = false,
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.BusyTimeout.TotalSeconds)),
        }.ToString();

        // Per connection, not stored in the file. synchronous=NORMAL is
        // safe in WAL mode: a process crash loses nothing, a power cut may lose the last commits but never corrupts.
        _pragmas = string.Create(
            CultureInfo.InvariantCulture,
            $"PRAGMA busy_timeout = {(long)options.BusyTimeout.TotalMilliseconds}; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = {16 * 1024 * 1024};");
        _retryAttempts = options.TransactionRetryAttempts;
        _writeGate = WriteGates.GetOrAdd(FilePath, static _ => new Lock());
        Parked = new ParkedLocks(this);
    }

    public string FilePath { get; }

    /// <summary>Released lock rows whose delete goes with the next write transaction.</summary>
    public ParkedLocks Parked { get; }

    /// <summary>A connection of the caller's own, set up for this storage; the caller disposes it.</summary>
    public SqliteConnection Open() => Configure(new SqliteConnection(_connectionString));

    public T Read<T>(Func<SqliteConnection, T> query)
    {
        var connection = Rent();
        var healthy = false;
        try
        {
            var result = query(connection);
            healthy = true;
            return result;
        }
        finally
        {
            Return(connection, healthy);
        }
    }

    /// <summary>Connections open and waiting to be lent.</summary>
    public int IdleConnections => Volatile.Read(ref _idleCount);

    /// <summary>Closes the idle connections; the storage calls it when it is disposed. A connection lent out closes when handed back.</summary>
    public void CloseIdle()
    {
        _closed = true;
        while (_idle.TryPop(out var connection))
        {
            Interlocked.Decrement(ref _idleCount);
            connection.Dispose();
        }
    }

    private T Configure<T>(T connection)
        where T : SqliteConnection
    {
        try
        {
            connection.Open();

            // Per connection, not stored in the file.
            using var command = connection.CreateCommand();
            command.CommandText = _pragmas;
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The most recently used idle connection (its statements are the warmest), or a new one.</summary>
    private StatementCachingConnection Rent()
    {
        if (_idle.TryPop(out var connection))
        {
            Interlocked.Decrement(ref _idleCount);
            return connection;
        }

        return Configure(new StatementCachingConnection(_connectionString));
    }

    /// <summary>
    /// Keeps a connection that finished its work cleanly with no transaction left open; one an exception came through is
    /// closed instead, since nothing says what state that left it in.
    /// </summary>
    private void Return(StatementCachingConnection connection, bool healthy)
    {
        var keep = healthy && !_closed && !connection.InTransaction;
        if (keep && Interlocked.Increment(ref _idleCount) <= MaxIdle)
        {
            _idle.Push(connection);

            // Disposed meanwhile: close what may have come back after the storage emptied the pool.
            if (_closed)
            {
                CloseIdle();
            }

            return;
        }

        if (keep)
        {
            Interlocked.Decrement(ref _idleCount);
        }

        connection.Dispose();
    }

    /// <summary>
    /// Runs <paramref name="body"/> in an immediate transaction and returns once that transaction committed. Writers that
    /// queue up meanwhile are committed together: one of them leads, runs the bodies waiting at that moment one after the
    /// other in one transaction and commits once, so the pages they share (the newest rows, the queue, the indexes) go to the
    /// WAL once for all of them. Nobody waits for company: a writer that finds nobody leading leads its own. When a body
    /// throws, or the group's commit fails, the group is rolled back and each body runs again alone, so every caller sees
    /// exactly what its own transaction would have done. When the database stays busy past the busy timeout the whole
    /// transaction is rolled back and run again from the start, never a part of it: bodies must be safe to run again.
    /// </summary>
    public T Write<T>(Func<SqliteConnection, T> body)
    {
        // A write nested in another on the same thread runs on its own, as it always did.
        if (_insideGate)
        {
            return Run(body);
        }

        var request = new WriteRequest(connection => body(connection));
        _pending.Enqueue(request);
        if (Interlocked.CompareExchange(ref _leading, 1, 0) != 0)
        {
            // Someone leads: it runs this body in its group, or hands this writer the lead.
            request.Wait();
        }

        if (!request.Done)
        {
            Lead(request);
        }

        return (T)request.Result()!;
    }

    /// <summary>Runs groups until <paramref name="own"/> is done, then hands the lead to the next writer waiting, if any.</summary>
    private void Lead(WriteRequest own)
    {
        var group = new List<WriteRequest>();
        try
        {
            while (!own.Done)
            {
                while (group.Count < MaxGroup && _pending.TryDequeue(out var next))
                {
                    group.Add(next);
                }

                // Every body's outcome, result or error, goes to its own writer: RunGroup throws nothing of theirs.
                RunGroup(group);
                foreach (var request in group)
                {
                    if (request != own)
                    {
                        request.Wake();
                    }
                }

                group.Clear();
            }
        }
        finally
        {
            HandOver();
        }
    }

    /// <summary>
    /// Gives the lead to the oldest writer waiting, or lets it go. The lead is dropped before the queue is looked at again,
    /// with a full fence between: a writer that queued meanwhile either finds the lead free, or is found here and given
    /// the lead, however often that race repeats.
    /// </summary>
    private void HandOver()
    {
        while (true)
        {
            // The lead is held here, so nobody else takes work out of the queue: what is seen at its head stays there.
            if (_pending.TryPeek(out var next))
            {
                next.Wake();
                return;
            }

            Interlocked.Exchange(ref _leading, 0);
            if (_pending.IsEmpty || Interlocked.CompareExchange(ref _leading, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private void RunGroup(List<WriteRequest> group)
    {
        if (group.Count == 1)
        {
            RunAlone(group[0]);
            return;
        }

        object?[] results;
        try
        {
            results = Run(connection =>
            {
                var each = new object?[group.Count];
                for (var i = 0; i < group.Count; i++)
                {
                    each[i] = group[i].Body(connection);
                }

                return each;
            });
        }
        catch (Exception)
        {
            // Rolled back as a whole: each body again in a transaction of its own, its error (if any) to its own caller.
            foreach (var request in group)
            {
                RunAlone(request);
            }

            return;
        }

        for (var i = 0; i < group.Count; i++)
        {
            group[i].Complete(results[i]);
        }
    }

    private void RunAlone(WriteRequest request)
    {
        try
        {
            request.Complete(Run(request.Body));
        }
        catch (Exception ex)
        {
            request.Fail(ex);
        }
    }

    /// <summary>One immediate transaction for <paramref name="body"/>, run again from the start while the file stays busy.</summary>
    private T Run<T>(Func<SqliteConnection, T> body)
    {
        for (var attempt = 0; ; attempt++)
        {
            // Storages of this process on the same file meet here for the file's one write lock: a hand-over in the process
            // is immediate, while SQLite's busy handler sleeps in growing steps and leaves the lock idle meanwhile. Other
            // processes still meet at the busy timeout. A write nested in another on the same thread skips the gate. The
            // connection is taken from the pool before the gate and returned after it, so the write lock is held for the
            // transaction only.
            var connection = Rent();
            var gated = !_insideGate;
            if (gated)
            {
                _writeGate.Enter();
                _insideGate = true;
            }

            List<ParkedLocks.Parked>? released = null;
            var committed = false;
            try
            {
                using var transaction = connection.Begin(immediate: true);
                released = Parked.DeleteDue(connection);
                var result = body(connection);
                transaction.Commit();
                committed = true;
                SqliteStorageMetrics.WriteTransactions.Add(1);
                SqliteStorageMetrics.PagesWritten.Add(connection.TakePagesWritten());
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
                    _writeGate.Exit();
                }

                // Handed back after the gate, as it was taken before it: the write lock is held for the transaction only.
                Return(connection, committed);
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

/// <summary>
/// A pooled connection that keeps a prepared command per SQL text. SQLite parses and plans a statement in
/// <c>sqlite3_prepare</c>; the storage runs the same few dozen statements for every job, so they are prepared once per
/// connection instead of once per use.
/// </summary>
internal sealed class StatementCachingConnection(string connectionString) : SqliteConnection(connectionString)
{
    /// <summary>Text built from a varying number of rows is not kept: past this many, a statement is prepared for its one use.</summary>
    private const int MaxStatements = 64;

    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether SQLite has a transaction open on this connection, however it was begun: its own answer, not
    /// Microsoft.Data.Sqlite's (which knows only the transactions it began).
    /// </summary>
    public bool InTransaction => SQLitePCL.raw.sqlite3_get_autocommit(Handle) == 0;

    /// <summary>
    /// Pages this connection wrote to the file (its WAL) since the last call, and starts the count again. SQLite appends
    /// every page a commit changed as a frame of its own, so pages per job is what a job costs the file.
    /// </summary>
    public long TakePagesWritten()
    {
        SQLitePCL.raw.sqlite3_db_status(Handle, SQLitePCL.raw.SQLITE_DBSTATUS_CACHE_WRITE, out var pages, out _, 1);
        return pages;
    }

    /// <summary>
    /// Begins a transaction with kept statements: Microsoft.Data.Sqlite's <c>BeginTransaction</c> prepares <c>BEGIN</c>
    /// and <c>COMMIT</c> afresh each time, twelve statements parsed for every job (four writes, two read snapshots).
    /// Disposed uncommitted, it rolls back.
    /// </summary>
    public KeptTransaction Begin(bool immediate)
    {
        if (Transaction is not null)
        {
            throw new InvalidOperationException("A transaction begun through Microsoft.Data.Sqlite is open on this connection.");
        }

        Kept(immediate ? "BEGIN IMMEDIATE" : "BEGIN")!.ExecuteNonQuery();
        return new KeptTransaction(this);
    }

    /// <summary>The command kept for <paramref name="sql"/>, made now if there is room; null when there is none.</summary>
    public SqliteCommand? Kept(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            if (_commands.Count >= MaxStatements && !IsTransactionControl(sql))
            {
                return null;
            }

            command = CreateCommand();
            command.CommandText = sql;
            _commands.Add(sql, command);
        }

        command.Transaction = Transaction;
        return command;
    }

    private static bool IsTransactionControl(string sql) => sql is "BEGIN" or "BEGIN IMMEDIATE" or "COMMIT" or "ROLLBACK";
}

/// <summary>A transaction begun by <see cref="StatementCachingConnection.Begin"/>; rolled back when disposed uncommitted.</summary>
internal readonly struct KeptTransaction(StatementCachingConnection connection) : IDisposable
{
    public void Commit() => connection.Kept("COMMIT")!.ExecuteNonQuery();

    public void Dispose()
    {
        // SQLite may have rolled back already (some errors end the transaction themselves); then there is nothing to undo.
        if (connection.InTransaction)
        {
            connection.Kept("ROLLBACK")!.ExecuteNonQuery();
        }
    }
}

/// <summary>Small ADO.NET helpers: every statement is parameterised; no value is ever spliced into SQL text.</summary>
internal static class SqliteCommandExtensions
{
    /// <summary>A command of its own for the caller to dispose, where the connection keeps none.</summary>
    private static SqliteCommand Command(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
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
        var command = connection.Reusable(sql, parameters, out var kept);
        try
        {
            return command.ExecuteNonQuery();
        }
        finally
        {
            Done(command, kept);
        }
    }

    public static object? Scalar(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.Reusable(sql, parameters, out var kept);
        try
        {
            var value = command.ExecuteScalar();
            return value is DBNull ? null : value;
        }
        finally
        {
            Done(command, kept);
        }
    }

    public static long Long(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        Convert.ToInt64(connection.Scalar(sql, parameters) ?? 0L, CultureInfo.InvariantCulture);

    public static List<T> List<T>(this SqliteConnection connection, string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters)
    {
        var command = connection.Reusable(sql, parameters, out var kept);
        try
        {
            using var reader = command.ExecuteReader();
            var list = new List<T>();
            while (reader.Read())
            {
                list.Add(map(reader));
            }

            return list;
        }
        finally
        {
            Done(command, kept);
        }
    }

    /// <summary>
    /// A deferred transaction, so that several reads see one snapshot of the file; with kept statements on a pooled
    /// connection, Microsoft.Data.Sqlite's own on any other.
    /// </summary>
    public static IDisposable Snapshot(this SqliteConnection connection) =>
        connection is StatementCachingConnection caching ? caching.Begin(immediate: false) : connection.BeginTransaction(deferred: true);

    /// <summary>The connection's kept command for this text with these values bound, or a new one when it keeps none.</summary>
    private static SqliteCommand Reusable(this SqliteConnection connection, string sql, (string Name, object? Value)[] parameters, out bool kept)
    {
        var command = (connection as StatementCachingConnection)?.Kept(sql);
        kept = command is not null;
        if (command is null)
        {
            return connection.Command(sql, parameters);
        }

        SqliteDatabase.CountStatement();
        var bound = command.Parameters;
        if (bound.Count == parameters.Length && SameNames(bound, parameters))
        {
            for (var i = 0; i < parameters.Length; i++)
            {
                bound[i].Value = parameters[i].Value ?? DBNull.Value;
            }
        }
        else
        {
            bound.Clear();
            foreach (var (name, value) in parameters)
            {
                bound.AddWithValue(name, value ?? DBNull.Value);
            }
        }

        return command;
    }

    private static bool SameNames(SqliteParameterCollection bound, (string Name, object? Value)[] parameters)
    {
        for (var i = 0; i < parameters.Length; i++)
        {
            if (!string.Equals(bound[i].ParameterName, parameters[i].Name, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A kept command lets go of its values (a large payload should not stay referenced by an idle connection); one made
    /// for this call is disposed.
    /// </summary>
    private static void Done(SqliteCommand command, bool kept)
    {
        if (!kept)
        {
            command.Dispose();
            return;
        }

        foreach (SqliteParameter parameter in command.Parameters)
        {
            parameter.Value = DBNull.Value;
        }
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

/// <summary>A body waiting to be written, and what came of it.</summary>
internal sealed class WriteRequest(Func<SqliteConnection, object?> body)
{
    private readonly ManualResetEventSlim _signal = new(false);
    private object? _result;
    private ExceptionDispatchInfo? _error;
    private volatile bool _done;

    public Func<SqliteConnection, object?> Body { get; } = body;

    /// <summary>Its transaction committed or failed for good; set by the leader before it releases the writer.</summary>
    public bool Done => _done;

    public void Complete(object? result)
    {
        _result = result;
        _done = true;
    }

    public void Fail(Exception error)
    {
        if (!_done)
        {
            _error = ExceptionDispatchInfo.Capture(error);
            _done = true;
        }
    }

    /// <summary>Wakes the writer: done, it returns its outcome; not done yet, it has been given the lead.</summary>
    public void Wake() => _signal.Set();

    public void Wait()
    {
        _signal.Wait();
        _signal.Dispose();
    }

    public object? Result()
    {
        _error?.Throw();
        return _result;
    }
}
