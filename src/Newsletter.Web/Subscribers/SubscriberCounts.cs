using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// How many subscribers have each status. The table SubscriberCounts holds them, kept exact by triggers that
/// each migration set writes in its database's dialect (migrations SubscriberCounts), so the list page reads
/// five rows instead of counting a million. The read itself is plain SQL both databases speak.
/// </summary>
public static class SubscriberCounts
{
    public static async Task<Dictionary<SubscriberStatus, int>> ReadAsync(AppDbContext db, CancellationToken ct)
    {
        var rows = await db.Database.SqlQuery<Row>($"""SELECT "Status", "Count" FROM "SubscriberCounts" """).ToListAsync(ct);
        return rows.Where(r => r.Count > 0).ToDictionary(r => (SubscriberStatus)r.Status, r => (int)r.Count);
    }

    private sealed record Row(int Status, long Count);
}
