using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// WAL lets readers run beside the one writer, and the busy timeout makes a writer wait for the lock
/// instead of failing at once with "database is locked". Both belong to the SQLite connection, which
/// the pool keeps open between uses, so they are set once per physical connection: EF opens a pooled
/// connection for nearly every query, and the PRAGMAs run each time were a fifth of a request's work.
/// secure_delete FAST zeroes a deleted or rewritten row's bytes inside its page at no extra I/O: without it an
/// address erased today (or a sign-up taken an hour ago) stays readable in the page's free space of the file.
/// </summary>
internal sealed class SqlitePragmas : DbConnectionInterceptor
{
    public static SqlitePragmas Instance { get; } = new();

    private const string Pragmas = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = FAST;";

    // While a SqliteCheckpointer runs in this process, connections leave checkpoints to it.
    private const string PragmasWithoutCheckpoints = Pragmas + " PRAGMA wal_autocheckpoint = 0;";

    private volatile bool _checkpointsInBackground;

    // Keyed by the native handle, which lives as long as the physical connection does.
    private readonly ConditionalWeakTable<object, object> _configured = new();

    private SqlitePragmas()
    {
    }

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        if (IsNew(connection))
        {
            using var command = connection.CreateCommand();
            command.CommandText = _checkpointsInBackground ? PragmasWithoutCheckpoints : Pragmas;
            command.ExecuteNonQuery();
        }
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (IsNew(connection))
        {
            await using var command = connection.CreateCommand();
            command.CommandText = _checkpointsInBackground ? PragmasWithoutCheckpoints : Pragmas;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Physical connections opened from now on don't checkpoint the WAL at commit (see <see cref="SqliteCheckpointer"/>).</summary>
    public void CheckpointInBackground() => _checkpointsInBackground = true;

    private bool IsNew(DbConnection connection) =>
        connection is not SqliteConnection { Handle: { } handle } || _configured.TryAdd(handle, handle);
}
