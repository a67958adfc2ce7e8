using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// How many subscribers have each status. On SQLite the table SubscriberCounts holds them, kept exact by
/// triggers (migration SubscriberCounts), so the list page reads five rows instead of counting a million.
/// </summary>
public static class SubscriberCounts
{
    public static async Task<Dictionary<SubscriberStatus, int>> ReadAsync(AppDbContext db, CancellationToken ct)
    {
        if (!db.Database.IsSqlite())
        {
            return await db.Subscribers.GroupBy(s => s.Status).Select(g => new { g.Key, Count = g.Count() })
                .ToDictionaryAsync(x => x.Key, x => x.Count, ct);
        }

        var rows = await db.Database.SqlQuery<Row>($"SELECT Status, Count FROM SubscriberCounts").ToListAsync(ct);
        return rows.Where(r => r.Count > 0).ToDictionary(r => (SubscriberStatus)r.Status, r => (int)r.Count);
    }

    private sealed record Row(int Status, long Count);
}
