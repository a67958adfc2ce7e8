namespace Newsletter.Web.Infrastructure;

/// <summary>
/// Start-up work that the first page does not need: registering recurring jobs, putting cut-off imports right,
/// checking the email templates. It runs once Kestrel listens (the host's StartedAsync), so the first page is
/// served while it runs on the other core instead of after it (about a fifth of a restart's time before Kestrel
/// listened). The host still reports started, and a WebApplicationFactory's start still returns, only after it is
/// done, and a failure here still stops the app at start-up. Schema migration and notes/ stay before listening:
/// the first page reads both.
/// </summary>
public abstract class AfterListening : IHostedLifecycleService
{
    /// <summary>The work, run once the server listens.</summary>
    public abstract Task StartedAsync(CancellationToken cancellationToken);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
