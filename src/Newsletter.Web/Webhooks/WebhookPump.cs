using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.Webhooks;

/// <summary>
/// Starts a dispatch job when the outbox holds due rows. The rows are written by database triggers, which
/// can't enqueue a job, so every node looks (one indexed read per <see cref="WebhookOptions.PollInterval"/>)
/// and enqueues one job at a time; a lost job costs nothing, since the next look finds the rows again.
/// </summary>
public sealed class WebhookPump(IServiceScopeFactory scopes, WebhookSql sql, IBackgroundJobClient jobs, WebhookSignal signal, IOptions<WebhookOptions> options, TimeProvider clock, ILogger<WebhookPump> logger) : BackgroundService
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
        // The claim's own rule: a row waiting behind an earlier one of its reader is not due, or a receiver that is
        // down would have a job started every second that finds nothing it may send.
        await db.Database.OpenConnectionAsync(ct);
        bool due;
        await using (var look = db.Command(null, sql.Due, ("@now", now), ("@pending", (int)WebhookDeliveryStatus.Pending), ("@sending", (int)WebhookDeliveryStatus.Sending)))
        {
            due = Convert.ToInt32(await look.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture) == 1;
        }

        await db.Database.CloseConnectionAsync();
        if (due)
        {
            signal.Enqueued(now);
            jobs.Enqueue<WebhookDispatcher>(d => d.RunAsync(CancellationToken.None));
        }
    }
}
