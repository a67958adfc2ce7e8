using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Deleting and erasing. Erase (a GDPR request) removes every row that holds the address or the person's
/// history and leaves only a SHA-256 hash in Suppressions, which imports and subscribe requests check.
/// </summary>
public sealed class SubscriberEraser(AppDbContext db)
{
    public async Task DeleteAsync(long id, bool suppress, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var email = await db.Subscribers.Where(s => s.Id == id).Select(s => s.EmailKey).FirstOrDefaultAsync(ct);
        if (email is null)
        {
            return; // already gone: a double click deletes once
        }

        if (suppress)
        {
            var hash = Subscriber.HashOf(email);
            if (!await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct))
            {
                db.Suppressions.Add(new Suppression { EmailHash = hash, Reason = SuppressionReason.Erased });
                await db.SaveChangesAsync(ct);
            }
        }

        await db.Deliveries.Where(d => d.SubscriberId == id).ExecuteDeleteAsync(ct);
        await db.Subscribers.Where(s => s.Id == id).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
    }
}
