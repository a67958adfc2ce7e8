using Newsletter.Testing;

namespace Newsletter.Tests;

/// <summary>
/// The app's writes held off by a test until disposed: SQLite's write lock, or on PostgreSQL an EXCLUSIVE lock on
/// one table (reads go on, writes wait), so requests made meanwhile queue at their first write and overlap however
/// fast the machine is.
/// </summary>
internal sealed class WriteLock(Func<ValueTask> release) : IAsyncDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<WriteLock> TakeAsync(NewsletterApp app, string table)
    {
        System.Data.Common.DbConnection connection = app.PostgresConnectionString is { } pg
            ? new Npgsql.NpgsqlConnection(pg)
            : new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(app.DataFolder, "newsletter.db")};Pooling=False");
        await connection.OpenAsync(Ct);
        await using (var begin = connection.CreateCommand())
        {
            begin.CommandText = app.PostgresConnectionString is null ? "BEGIN IMMEDIATE" : $"BEGIN; LOCK TABLE \"{table}\" IN EXCLUSIVE MODE";
            await begin.ExecuteNonQueryAsync(Ct);
        }

        return new WriteLock(async () =>
        {
            await using (var rollback = connection.CreateCommand())
            {
                rollback.CommandText = "ROLLBACK";
                await rollback.ExecuteNonQueryAsync(Ct);
            }

            await connection.DisposeAsync();
        });
    }

    public ValueTask DisposeAsync() => release();
}
