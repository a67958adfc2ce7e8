using Microsoft.EntityFrameworkCore;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Deleting and erasing. Erase (a GDPR request) removes every row that holds the address or the person's
/// history and leaves only a SHA-256 hash in Suppressions, which imports and subscribe requests check.
/// </summary>
public sealed class SubscriberEraser(AppDbContext db, EraseHygiene hygiene, OutboxReader outbox, ILogger<SubscriberEraser> logger)
{
    public async Task DeleteAsync(long id, bool suppress, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            var email = await db.Subscribers.Where(s => s.Id == id).Select(s => s.Email).FirstOrDefaultAsync(ct);
            if (email is null)
            {
                return; // already gone: a double click deletes once
            }

            if (suppress)
            {
                await hygiene.BeforeAsync(db, ct);
            }

            await using (var tx = await db.Database.BeginTransactionAsync(ct))
            {
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

            if (suppress)
            {
                await hygiene.AfterAsync(db, ct);

                // The pickup folder keeps a copy of every email sent; the erased reader's go too.
                var removed = outbox.DeleteAddressedTo(email);
                logger.LogInformation("Erased subscriber {Id}: rows deleted, address kept only as a hash, {Count} outbox messages deleted", id, removed);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }
}
