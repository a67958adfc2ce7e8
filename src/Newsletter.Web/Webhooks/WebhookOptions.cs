namespace Newsletter.Web.Webhooks;

/// <summary>The "Webhooks" section of appsettings.json.</summary>
public sealed class WebhookOptions
{
    /// <summary>What the admin page keeps of a receiver's answer.</summary>
    public const int KeptResponseChars = 4096;

    /// <summary>How long one POST may take, connect to last byte; then it counts as failed and is retried.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The wait after the first failure; each further failure doubles it, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long after the event a delivery is still retried; then it is Failed and shown.</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often each node looks for due deliveries (one indexed read) and starts a dispatch job.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Rows one claim takes at most; claims take no more than half of <see cref="Parallelism"/> anyway, as POSTs finish.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>POSTs in flight at once per dispatch job (events of one reader, issue or note always go one after another).</summary>
    public int Parallelism { get; set; } = 8;

    /// <summary>A claim's lease: a node that dies mid-batch gives its rows to another after this.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Allow endpoints on loopback, private and link-local addresses. Off: a webhook can't be pointed at the intranet.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>How long a rotated-out secret still signs deliveries beside the new one.</summary>
    public TimeSpan RotationOverlap { get; set; } = TimeSpan.FromHours(24);

    public IEnumerable<string> Problems()
    {
        if (Timeout <= TimeSpan.Zero || FirstRetryDelay <= TimeSpan.Zero || PollInterval <= TimeSpan.Zero || RetryFor <= TimeSpan.Zero)
        {
            yield return "Webhooks:Timeout, FirstRetryDelay, PollInterval and RetryFor must be positive";
        }

        if (BatchSize < 1 || Parallelism < 1)
        {
            yield return "Webhooks:BatchSize and Parallelism must be at least 1";
        }

        if (LeaseDuration <= Timeout * 2)
        {
            yield return "Webhooks:LeaseDuration must be more than twice Webhooks:Timeout, or a slow receiver's row is taken over while it is still being sent";
        }
    }
}
