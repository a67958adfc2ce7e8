using Microsoft.EntityFrameworkCore;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// What an erase (a GDPR request) does beyond deleting rows, so the deleted bytes don't linger in the
/// database's files. Both calls run on the connection the erase holds open.
/// </summary>
public abstract class EraseHygiene
{
    public abstract Task BeforeAsync(AppDbContext db, CancellationToken ct);

    public abstract Task AfterAsync(AppDbContext db, CancellationToken ct);
}

/// <summary>
/// A deleted row's bytes stay in free pages of the file until SQLite reuses them; secure_delete overwrites
/// them with zeros instead, and a checkpoint moves the WAL's copies into the file so they go too.
/// </summary>
internal sealed class SqliteEraseHygiene(ILogger<SqliteEraseHygiene> logger) : EraseHygiene
{
    public override async Task BeforeAsync(AppDbContext db, CancellationToken ct) =>
        await db.Database.ExecuteSqlRawAsync("PRAGMA secure_delete = ON", ct);

    public override async Task AfterAsync(AppDbContext db, CancellationToken ct)
    {
        // Back to what every connection has (SqlitePragmas): zeroing deleted cells within their pages only.
        await db.Database.ExecuteSqlRawAsync("PRAGMA secure_delete = FAST", ct);
        // The erased rows' old pages are in the database file (the background checkpointer copies the WAL
        // there every 200 ms); the zeroed pages are in the WAL until a checkpoint copies them over. A TRUNCATE
        // checkpoint reports busy instead of waiting when another checkpoint runs (the background one) or a
        // reader still uses an older snapshot, so try again until it completes, for a few seconds at most.
        var connection = db.Database.GetDbConnection();
        for (var attempt = 0; attempt < 100; attempt++)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            await using var reader = await command.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct) && reader.GetInt32(0) == 0)
            {
                return;
            }

            await Task.Delay(50, ct);
        }

        // Best effort beyond that: the next checkpoint copies the zeroed pages over the old ones.
        logger.LogWarning("The erase's checkpoint stayed busy for 5 s; the erased rows' old pages stay in the database file until the next checkpoint");
    }
}

/// <summary>
/// PostgreSQL has no per-statement secure delete: a deleted tuple stays in its page until (auto)vacuum
/// reclaims it and the WAL segments are recycled. A VACUUM here would lock out nothing but would read the
/// whole subscriber table on every erase, so the erase relies on autovacuum, as the README says.
/// </summary>
internal sealed class PostgresEraseHygiene : EraseHygiene
{
    public override Task BeforeAsync(AppDbContext db, CancellationToken ct) => Task.CompletedTask;

    public override Task AfterAsync(AppDbContext db, CancellationToken ct) => Task.CompletedTask;
}
