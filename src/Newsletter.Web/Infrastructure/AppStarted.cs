namespace Newsletter.Web.Infrastructure;

/// <summary>
/// Work that must not begin before the whole app has started. Hosted services start before Kestrel binds its
/// port, so a node that then fails to start (its port taken, a setting refused later) would already have done it,
/// with its container disposed under it afterwards.
/// </summary>
public static class AppStarted
{
    /// <summary>Waits until the app has started (true), or until it stops first, having never started (false).</summary>
    public static async Task<bool> WhenStartedAsync(this IHostApplicationLifetime lifetime, CancellationToken stoppingToken)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lifetime.ApplicationStarted);
        await Task.Delay(Timeout.Infinite, either.Token).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return lifetime.ApplicationStarted.IsCancellationRequested && !stoppingToken.IsCancellationRequested;
    }
}
