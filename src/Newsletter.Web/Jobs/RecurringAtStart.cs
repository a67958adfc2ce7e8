using Hangfire.Storage;

namespace Newsletter.Web.Jobs;

/// <summary>
/// Registers a recurring job at start-up without letting the job storage's lock stop the start. Hangfire takes a
/// distributed lock per recurring job, and its scheduler holds that lock while it triggers the job: a node killed in
/// that moment leaves the lock to the storage's timeout (ten minutes on Hangfire.PostgreSql), and a restart that
/// waited for it failed to start at all (a two-node send with kills hit this). The job is in the storage from
/// earlier starts already, so a node that can't update it now starts anyway and tries again in the background.
/// </summary>
public static class RecurringAtStart
{
    public static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(30);

    public static void Register(string what, Action register, ILogger logger, CancellationToken stopping)
    {
        if (TryRegister(what, register, logger))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(RetryEvery, stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                if (TryRegister(what, register, logger))
                {
                    logger.LogInformation("{What}: registered on a later try", what);
                    return;
                }
            }
        }, CancellationToken.None);
    }

    private static bool TryRegister(string what, Action register, ILogger logger)
    {
        try
        {
            register();
            return true;
        }
        // Hangfire.PostgreSql's own lock exception is matched by name: naming its type here would load that
        // assembly on every SQLite node, which the job storage set-up keeps from doing (JobsExtensions).
        catch (Exception e) when (e is DistributedLockTimeoutException || e.GetType().Name.EndsWith("DistributedLockException", StringComparison.Ordinal))
        {
            logger.LogWarning("{What}: the job storage's lock is held (by a node that stopped while holding it, until the lock times out); the start goes on and it is tried again every {Seconds} s. {Error}",
                what, RetryEvery.TotalSeconds, e.Message);
            return false;
        }
    }
}
