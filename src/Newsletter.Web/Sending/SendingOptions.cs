namespace Newsletter.Web.Sending;

/// <summary>The "Sending" section of appsettings.json.</summary>
public sealed class SendingOptions
{
    /// <summary>Deliveries a worker claims at once. Bounds the duplicates a crash can cause (BatchSize × Concurrency).</summary>
    public int BatchSize { get; set; } = 50;

    /// <summary>Worker jobs per issue, each with one SMTP connection.</summary>
    public int Concurrency { get; set; } = 4;

    /// <summary>How long a claim holds; a crashed worker's batch is reclaimed after it.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Global limits shared by every worker on every node; 0 means no limit.</summary>
    public int MaxPerSecond { get; set; }

    public int MaxPerHour { get; set; }

    /// <summary>Attempts before a deferred (4xx) delivery becomes Failed.</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>First retry delay after a 4xx; doubles per attempt up to an hour.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Failed ÷ attempted above this (after 100 attempts) pauses the send and says why.</summary>
    public double FailureRateThreshold { get; set; } = 0.2;

    /// <summary>No delivery progress for this long while Sending pauses the send and says why.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the reconciler re-creates what the tables say is due.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>When set, each message gets a per-delivery Return-Path (VERP) at this domain.</summary>
    public string BounceDomain { get; set; } = "";

    public string ListId { get; set; } = "newsletter.localhost";

    /// <summary>
    /// The bearer secret the MTA sends with inbound mail to POST /api/inbound (bounces, complaints, mailto
    /// unsubscribes). Empty turns the endpoint off; the process-inbound command works either way.
    /// </summary>
    public string InboundSecret { get; set; } = "";
}
