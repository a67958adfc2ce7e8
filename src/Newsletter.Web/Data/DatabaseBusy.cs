using Microsoft.Data.Sqlite;

namespace Newsletter.Web.Data;

/// <summary>
/// A database that is there but cannot take this request now: SQLite's write lock held past the busy timeout
/// (a backup, a long import, another process), or a PostgreSQL server restarting, out of connections or not
/// answering. The request may work in a moment, so it is answered 503 with Retry-After (exit 75 for a verb),
/// not as a fault of the app (500, a stack trace).
/// </summary>
public static class DatabaseBusy
{
    /// <summary>Seconds a caller is asked to wait before trying again.</summary>
    public const int RetryAfterSeconds = 5;

    public static bool Is(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SqliteException sqlite when (sqlite.SqliteErrorCode & 0xFF) is SQLitePCL.raw.SQLITE_BUSY or SQLitePCL.raw.SQLITE_LOCKED:
                case Npgsql.NpgsqlException { IsTransient: true }:
                    return true;
            }
        }

        return false;
    }
}
