namespace Newsletter.Web.Subscribers.Import;

/// <summary>
/// At start-up, puts imports that a stop or a lost job left half done right (SubscriberImporter.RecoverAsync):
/// the tables say what is due, so nothing waits for a job that no longer exists. Then, every minute, marks an
/// import cut off whose node died while it ran (nobody reads its file any more): with several nodes the others
/// live on, and Hangfire would hand the dead node's job on only after its invisibility timeout (30 minutes on
/// PostgreSQL), while the import page said "Running".
/// </summary>
public sealed class ImportRecovery(IServiceProvider services, TimeProvider clock, ILogger<ImportRecovery> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the host serves anything, as before: the sweep below only starts once this is done.
        await using (var scope = services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<SubscriberImporter>().RecoverAsync(cancellationToken);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1), clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await using var scope = services.CreateAsyncScope();
                    await scope.ServiceProvider.GetRequiredService<SubscriberImporter>().FailCutOffAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The database away for a moment: the next minute looks again.
                    logger.LogWarning(e, "Could not look for imports cut off by a node that stopped");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
