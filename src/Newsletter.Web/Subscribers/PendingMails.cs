using Hangfire;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// The emails a reader's transaction decided on (<see cref="PendingMail"/>): added to that transaction, then
/// handed to Hangfire once it committed. The emails due now go to one job together
/// (<see cref="SubscriberMailJob.SendPendingAsync"/>), not a job each: on PostgreSQL a Hangfire job costs about
/// twenty statements to store and run, which was most of what a batch of sign-ups cost. The rows stay, marked
/// <see cref="HandedOver"/>, until the job has sent each one, so a retry sends only what is left. A process that
/// dies between the commit and the hand-over, or finds the job storage unreachable then, leaves the row claimed by
/// it, and the next sweep on any node (<see cref="SignUpDispatcher"/>) hands it over once that claim has run out:
/// the email is late, never lost.
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

    /// <summary>
    /// Marks a row given to a job: the job deletes it once its email went, and no sweep takes it again. A job that
    /// fails for good (its retries spent, shown on the jobs page) leaves its rows for the author to retry the job.
    /// </summary>
    public static readonly DateTime HandedOver = new(9999, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>
    /// After the commit: the emails due now to one job, each due later to a job scheduled for its time; then the
    /// rows are marked as handed over. Dying between the two leaves the rows to the sweep, which gives them to a
    /// second job; the job that comes second finds each row it sends already deleted, or, when the two run at the
    /// same moment, that is the one duplicate this allows, as a crash between a send and its record always did.
    /// A hand-over that fails (the job storage unreachable) is logged and does not throw: the caller's change has
    /// committed, so the reader must hear "subscribed" or "confirmed", and the rows, still claimed by this node
    /// for <see cref="Claim"/>, go to the sweep like a dead process's.
    /// </summary>
    public async Task HandOverAsync(IReadOnlyCollection<PendingMail> mails, CancellationToken ct)
    {
        if (mails.Count == 0)
        {
            return;
        }

        try
        {
            await EnqueueAndMarkAsync(mails, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Could not hand {Count} stored reader emails to the job queue; they wait in the database and are handed over again in {Claim}", mails.Count, Claim);
        }
    }

    private async Task EnqueueAndMarkAsync(IReadOnlyCollection<PendingMail> mails, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var due = mails.Where(m => m.DueAt <= now).Select(m => m.Id).ToArray();
        if (due.Length > 0)
        {
            jobs.Enqueue<SubscriberMailJob>(j => j.SendPendingAsync(due, CancellationToken.None));
        }

        foreach (var mail in mails.Where(m => m.DueAt > now))
        {
            long[] one = [mail.Id];
            jobs.Schedule<SubscriberMailJob>(j => j.SendPendingAsync(one, CancellationToken.None), mail.DueAt - now);
        }

        var ids = mails.Select(m => m.Id).ToArray();
        await db.PendingMails.Where(m => ids.Contains(m.Id)).ExecuteUpdateAsync(u => u.SetProperty(m => m.ClaimedUntil, HandedOver), ct);
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
            logger.LogWarning("Handing over {Count} reader emails whose first hand-over did not happen (a process stopped after storing them, or the job queue was unreachable)", taken.Count);
            await HandOverAsync(taken, ct);
        }

        return taken.Count;
    }
}
