using Hangfire;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers.Import;

/// <summary>
/// Sends confirmations to the pending rows of one import, in batches, from one job: never one Hangfire job
/// per recipient. Each row is claimed (LastConfirmationSentAt set) before its mail, so a rerun after a
/// crash continues where it stopped and sends nobody a second confirmation; a send that fails hands its claim
/// back, so the job's retry (or the next start) asks that reader again.
/// </summary>
public sealed class ImportConfirmationsJob(AppDbContext db, SubscriberMailJob mail, TimeProvider clock)
{
    [Queue("imports")]
    public async Task RunAsync(int importId, CancellationToken ct)
    {
        var source = $"import:{importId}";
        while (true)
        {
            var batch = await db.Subscribers.AsNoTracking()
                .Where(s => s.Source == source && s.Status == SubscriberStatus.Pending && s.LastConfirmationSentAt == null)
                .OrderBy(s => s.Id).Select(s => s.Id).Take(200).ToListAsync(ct);
            if (batch.Count == 0)
            {
                return;
            }

            foreach (var id in batch)
            {
                var now = clock.GetUtcNow().UtcDateTime;
                var claimed = await db.Subscribers.Where(s => s.Id == id && s.LastConfirmationSentAt == null)
                    .ExecuteUpdateAsync(u => u.SetProperty(s => s.LastConfirmationSentAt, now), ct);
                if (claimed == 1)
                {
                    try
                    {
                        await mail.SendConfirmationAsync(id, ct);
                    }
                    catch
                    {
                        // Not sent (the relay down, a 4xx, a stop): the claim goes back, or the retry and the
                        // start-up recovery, which look for unclaimed readers, would skip this one for good and it
                        // could never confirm. If the relay did take it before the failure, a second confirmation
                        // is the lesser harm.
                        await db.Subscribers.Where(s => s.Id == id)
                            .ExecuteUpdateAsync(u => u.SetProperty(s => s.LastConfirmationSentAt, (DateTime?)null), CancellationToken.None);
                        throw;
                    }
                }
            }
        }
    }
}
