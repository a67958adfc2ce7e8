namespace Newsletter.Web.Subscribers.Import;

/// <summary>
/// At start-up, puts imports that a stop or a lost job left half done right (SubscriberImporter.RecoverAsync):
/// the tables say what is due, so nothing waits for a job that no longer exists. Then, every minute, marks an
/// import cut off whose node died while it ran (nobody reads its file any more): with several nodes the others
/// live on, and Hangfire would hand the dead node's job on only after its invisibility timeout (30 minutes on
/// PostgreSQL), while the import page said "Running".
/// </summary>
public sealed class ImportRecovery(IServiceProvider services, TimeProvider clock, ILogger<ImportRecovery> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _sweeping;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using (var scope = services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<SubscriberImporter>().RecoverAsync(cancellationToken);
        }

        _sweeping = SweepAsync(_stopping.Token);
    }

    private async Task SweepAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1), clock);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    await using var scope = services.CreateAsyncScope();
                    await scope.ServiceProvider.GetRequiredService<SubscriberImporter>().FailCutOffAsync(ct);
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

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_sweeping is not null)
        {
            await _sweeping.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public void Dispose() => _stopping.Dispose();
}
