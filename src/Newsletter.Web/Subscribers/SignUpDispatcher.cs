using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Turns stored sign-ups into readers, on every node that runs jobs: woken by this node's
/// <see cref="SignUpWriter"/> at once, and every few seconds it looks for sign-ups another node stored (one
/// without a job server, or one that died) and for reader emails a dead process stored but never handed to
/// Hangfire (<see cref="PendingMails.SweepAsync"/>). A batch is taken in one transaction
/// (<see cref="ReaderLifecycle.TakeSignUpsAsync"/>), whose delete of the rows is the claim across nodes; when that
/// cannot be (another node took part of it, or a write was refused) each is taken in its own
/// (<see cref="ReaderLifecycle.TakeSignUpAsync"/>), and one that fails is postponed alone.
/// </summary>
public sealed class SignUpDispatcher(IServiceScopeFactory scopes, SignUpSignal signal, TimeProvider clock, ILogger<SignUpDispatcher> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    // One transaction takes a batch, and on SQLite the sign-up writer's commits (visitors waiting for their
    // answer) queue behind it: a batch of 50 new readers held it 31 ms at the median and 49 ms at the 90th
    // percentile, with the confirmations being sent beside it on two cores (the subscribe benchmark, 2026-12-04).
    private const int Batch = 50;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DispatchAsync(stoppingToken);
                await using var scope = scopes.CreateAsyncScope();
                await scope.ServiceProvider.GetRequiredService<PendingMails>().SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // Not silence: the log says it, and the next look tries again (a database restart, a lock timeout).
                logger.LogError(e, "Could not take stored sign-ups");
            }

            await signal.WaitAsync(PollInterval, stoppingToken);
        }
    }

    /// <summary>Takes every due sign-up, a batch at a time, until none is left; returns how many became work.</summary>
    public async Task<int> DispatchAsync(CancellationToken ct)
    {
        var taken = 0;
        while (true)
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var due = await db.SignUps.AsNoTracking().Where(s => s.RetryAt == null || s.RetryAt <= now)
                .OrderBy(s => s.Id).Select(s => s.Id).Take(Batch).ToListAsync(ct);
            if (due.Count == 0)
            {
                return taken;
            }

            var readers = scope.ServiceProvider.GetRequiredService<ReaderLifecycle>();
            ct.ThrowIfCancellationRequested();
            try
            {
                // Not cancelled halfway: a stop waits for the one short transaction instead of rolling it back.
                if (await readers.TakeSignUpsAsync(due, CancellationToken.None) is { } outcomes)
                {
                    foreach (var (id, outcome) in outcomes)
                    {
                        logger.LogInformation("Sign-up {Id}: {Outcome}", id, outcome);
                    }

                    taken += outcomes.Count;
                    continue;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Nothing of the batch was kept; each sign-up is taken on its own below, and one that fails there
                // is postponed by itself instead of holding back the rest.
                logger.LogWarning(e, "Could not take {Count} sign-ups together; taking them one at a time", due.Count);
            }

            db.ChangeTracker.Clear();
            foreach (var id in due)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    // Not cancelled halfway: a stop waits for the one short transaction instead of rolling it back.
                    var outcome = await readers.TakeSignUpAsync(id, CancellationToken.None);
                    if (outcome is not null)
                    {
                        taken++;
                        logger.LogInformation("Sign-up {Id}: {Outcome}", id, outcome);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    db.ChangeTracker.Clear();
                    await PostponeAsync(db, id, e, ct);
                }
            }
        }
    }

    /// <summary>
    /// A sign-up that failed waits longer each time (a minute, doubling to a day) and stays, so an author can see
    /// it in the log and nothing is lost; the other sign-ups go on meanwhile.
    /// </summary>
    private async Task PostponeAsync(AppDbContext db, long id, Exception e, CancellationToken ct)
    {
        var signUp = await db.SignUps.FirstOrDefaultAsync(s => s.Id == id, ct);
        if (signUp is null)
        {
            return;
        }

        var wait = TimeSpan.FromMinutes(Math.Min(24 * 60, Math.Pow(2, Math.Min(signUp.Attempts, 11))));
        signUp.Attempts++;
        signUp.RetryAt = clock.GetUtcNow().UtcDateTime + wait;
        await db.SaveChangesAsync(ct);
        logger.LogError(e, "Could not take sign-up {Id} (attempt {Attempts}); trying again at {RetryAt:u}", id, signUp.Attempts, signUp.RetryAt);
    }
}
