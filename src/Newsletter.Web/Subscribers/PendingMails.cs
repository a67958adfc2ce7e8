using Hangfire;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// The emails a reader's transaction decided on (<see cref="PendingMail"/>): added to that transaction, then
/// handed to Hangfire once it committed and deleted. A process that dies between the commit and the hand-over
/// leaves the row, and the next sweep on any node (<see cref="SignUpDispatcher"/>) hands it over once the
/// writer's claim has run out: the email is late, never lost. Dying between the hand-over and the delete sends
/// it twice, the one duplicate this allows; <see cref="SubscriberMailJob"/> re-checks the reader either way.
/// </summary>
public sealed class PendingMails(AppDbContext db, IBackgroundJobClient jobs, TimeProvider clock, ILogger<PendingMails> logger)
{
    /// <summary>How long the node that wrote a row has to hand it over before others may.</summary>
    public static readonly TimeSpan Claim = TimeSpan.FromMinutes(1);

    /// <summary>Adds the email to the context; the caller's SaveChanges and commit store it with the reader.</summary>
    public PendingMail Add(long subscriberId, PendingMailKind kind, DateTime dueAt)
    {
        var mail = new PendingMail { SubscriberId = subscriberId, Kind = kind, DueAt = dueAt, ClaimedUntil = clock.GetUtcNow().UtcDateTime + Claim };
        db.PendingMails.Add(mail);
        return mail;
    }

    /// <summary>After the commit: enqueues (or schedules for their slot) the committed emails, then deletes them.</summary>
    public async Task HandOverAsync(IReadOnlyCollection<PendingMail> mails, CancellationToken ct)
    {
        if (mails.Count == 0)
        {
            return;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var mail in mails)
        {
            Enqueue(mail, now);
        }

        var ids = mails.Select(m => m.Id).ToArray();
        await db.PendingMails.Where(m => ids.Contains(m.Id)).ExecuteDeleteAsync(ct);
    }

    /// <summary>
    /// Hands over rows whose writer's claim ran out (it died after its commit). Each is claimed with a
    /// conditional update first, so two nodes sweeping at once hand each row over once. Returns how many.
    /// </summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var left = await db.PendingMails.AsNoTracking().Where(m => m.ClaimedUntil < now).OrderBy(m => m.Id).Take(100).ToListAsync(ct);
        var taken = new List<PendingMail>();
        foreach (var mail in left)
        {
            var until = now + Claim;
            if (await db.PendingMails.Where(m => m.Id == mail.Id && m.ClaimedUntil == mail.ClaimedUntil)
                .ExecuteUpdateAsync(u => u.SetProperty(m => m.ClaimedUntil, until), ct) == 1)
            {
                taken.Add(mail);
            }
        }

        if (taken.Count > 0)
        {
            logger.LogWarning("Handing over {Count} reader emails left by a process that stopped after storing them", taken.Count);
            await HandOverAsync(taken, ct);
        }

        return taken.Count;
    }

    private void Enqueue(PendingMail mail, DateTime now)
    {
        var id = mail.SubscriberId;
        System.Linq.Expressions.Expression<Func<SubscriberMailJob, Task>> job = mail.Kind switch
        {
            PendingMailKind.Confirmation => j => j.SendConfirmationAsync(id, CancellationToken.None),
            PendingMailKind.AlreadySubscribed => j => j.SendAlreadySubscribedAsync(id, CancellationToken.None),
            PendingMailKind.Welcome => j => j.SendWelcomeAsync(id, CancellationToken.None),
            _ => throw new InvalidOperationException($"Unknown pending mail kind {mail.Kind}"),
        };
        if (mail.DueAt <= now)
        {
            jobs.Enqueue(job);
        }
        else
        {
            jobs.Schedule(job, mail.DueAt - now);
        }
    }
}
