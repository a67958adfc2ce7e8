namespace Newsletter.Web.Subscribers.Import;

/// <summary>
/// At start-up, puts imports that a stop or a lost job left half done right (SubscriberImporter.RecoverAsync):
/// the tables say what is due, so nothing waits for a job that no longer exists.
/// </summary>
public sealed class ImportRecovery(IServiceProvider services) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<SubscriberImporter>().RecoverAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
