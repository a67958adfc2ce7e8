using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Data.Providers;

/// <summary>How many of today's active readers confirmed on each day: the subscribers page's chart.</summary>
public abstract class SubscriberGrowth
{
    /// <summary>Active readers by the UTC day they confirmed, from <paramref name="from"/> on.</summary>
    public async Task<Dictionary<DateTime, int>> ConfirmedPerDayAsync(AppDbContext db, DateTime from, CancellationToken ct)
    {
        var rows = await Query(db, from, (int)SubscriberStatus.Active).ToListAsync(ct);
        return rows.ToDictionary(r => DateTime.ParseExact(r.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture), r => r.Count);
    }

    protected abstract IQueryable<DayCount> Query(AppDbContext db, DateTime from, int active);

    protected internal sealed record DayCount(string Day, int Count);
}

/// <summary>Dates are stored as ISO text on SQLite, so the day is the first ten characters.</summary>
internal sealed class SqliteSubscriberGrowth : SubscriberGrowth
{
    protected override IQueryable<DayCount> Query(AppDbContext db, DateTime from, int active) => db.Database.SqlQuery<DayCount>(
        $"SELECT substr(ConfirmedAt, 1, 10) AS Day, COUNT(*) AS Count FROM Subscribers WHERE ConfirmedAt >= {from} AND Status = {active} GROUP BY substr(ConfirmedAt, 1, 10)");
}

/// <summary>Dates are timestamptz on PostgreSQL; the day is taken in UTC, as on SQLite.</summary>
internal sealed class PostgresSubscriberGrowth : SubscriberGrowth
{
    protected override IQueryable<DayCount> Query(AppDbContext db, DateTime from, int active) => db.Database.SqlQuery<DayCount>($"""
        SELECT to_char("ConfirmedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS "Day", COUNT(*)::int AS "Count"
        FROM "Subscribers" WHERE "ConfirmedAt" >= {from} AND "Status" = {active}
        GROUP BY 1
        """);
}
