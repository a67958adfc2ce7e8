using Microsoft.Data.Sqlite;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// Copies the SQLite WAL back into the database file on its own connection, every 200 ms, instead of inside
/// whichever commit pushed the WAL past 1,000 pages. That copy and its fsync took milliseconds inside a commit
/// that others were waiting on: the sign-up writer's batch (every visitor in it waited), the outcome writer's
/// group commit. Measured with <c>subscribe 20 32</c>: 5,143 req/s, p99 25.2 ms with checkpoints at commit;
/// 7,897 req/s, p99 14.3 ms without. A PASSIVE checkpoint takes no write lock, so writers go on beside it.
/// Only the web host runs it; a command-line verb keeps SQLite's own checkpoints.
/// </summary>
internal sealed class SqliteCheckpointer(string connectionString, ILogger<SqliteCheckpointer> logger) : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(200);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        SqlitePragmas.Instance.CheckpointInBackground();
        var builder = new SqliteConnectionStringBuilder(connectionString) { Pooling = false };
        using var timer = new PeriodicTimer(Every);
        SqliteConnection? connection = null;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (connection is null)
                    {
                        connection = new SqliteConnection(builder.ConnectionString);
                        await connection.OpenAsync(stoppingToken);
                    }

                    await using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
                    await command.ExecuteNonQueryAsync(stoppingToken);
                }
                catch (SqliteException e)
                {
                    // The next tick tries again; until one succeeds the WAL only grows, which costs disk, not data.
                    logger.LogWarning(e, "Could not checkpoint the SQLite WAL");
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                    }

                    connection = null;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }
}
