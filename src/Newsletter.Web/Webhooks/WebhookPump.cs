using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;

namespace Newsletter.Web.Webhooks;

/// <summary>
/// Starts a dispatch job when the outbox holds due rows. The rows are written by database triggers, which
/// can't enqueue a job, so every node looks (one indexed read per <see cref="WebhookOptions.PollInterval"/>)
/// and enqueues one job at a time; a lost job costs nothing, since the next look finds the rows again.
/// </summary>
public sealed class WebhookPump(IServiceScopeFactory scopes, IBackgroundJobClient jobs, WebhookSignal signal, IOptions<WebhookOptions> options, TimeProvider clock, ILogger<WebhookPump> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PollInterval, clock);
        do
        {
            try
            {
                await PumpAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not silence: the log says it, and the next tick tries again (a database restart, a lock timeout).
                logger.LogError(e, "Could not look for due webhook deliveries");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task PumpAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        // A job enqueued here may run on another node; after a minute without it starting here, look again.
        if (signal.Busy(now, 60_000))
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var due = await db.WebhookDeliveries.AnyAsync(d =>
            (d.Status == WebhookDeliveryStatus.Pending && d.NextAttemptAtMs <= now) || (d.Status == WebhookDeliveryStatus.Sending && d.LeaseExpiresAtMs < now), ct);
        if (due)
        {
            signal.Enqueued(now);
            jobs.Enqueue<WebhookDispatcher>(d => d.RunAsync(CancellationToken.None));
        }
    }
}
