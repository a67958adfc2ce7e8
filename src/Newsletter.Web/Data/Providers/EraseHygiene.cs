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
internal sealed class SqliteEraseHygiene : EraseHygiene
{
    public override async Task BeforeAsync(AppDbContext db, CancellationToken ct) =>
        await db.Database.ExecuteSqlRawAsync("PRAGMA secure_delete = ON", ct);

    public override async Task AfterAsync(AppDbContext db, CancellationToken ct)
    {
        await db.Database.ExecuteSqlRawAsync("PRAGMA secure_delete = OFF", ct);
        // Best effort: a reader holding an old snapshot keeps its frames until the next checkpoint.
        await db.Database.ExecuteSqlRawAsync("PRAGMA wal_checkpoint(TRUNCATE)", ct);
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
