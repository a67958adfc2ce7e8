namespace Newsletter.Web.Sending;

/// <summary>The "Sending" section of appsettings.json.</summary>
public sealed class SendingOptions
{
    /// <summary>
    /// The most deliveries a worker claims at once. Bounds the duplicates a crash can cause (BatchSize ×
    /// Concurrency per node). A worker claims fewer when the relay is slow: about <see cref="TargetBatchTime"/>
    /// of sending, so a crash leaves no more uncertain than what was really in flight.
    /// </summary>
    public int BatchSize { get; set; } = 50;

    /// <summary>How long one claimed batch should take to send, judged by the relay's pace so far.</summary>
    public TimeSpan TargetBatchTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Send workers per issue on each node, each with one SMTP connection.</summary>
    public int Concurrency { get; set; } = 4;

    /// <summary>
    /// How long a claim holds without renewal. The node renews its workers' leases on every heartbeat, so this
    /// matters only when a node stops beating (a crash, a frozen process, a lost database): then its rows go
    /// to another worker after this, or after <see cref="NodeTimeout"/> when a peer notices first.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>A node whose heartbeat is older than this is dead: its leases are released to the living.</summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often a node writes its heartbeat and renews its leases; kept well inside the lease and the node timeout.</summary>
    public TimeSpan HeartbeatInterval
    {
        get
        {
            var validity = LeaseDuration < NodeTimeout ? LeaseDuration : NodeTimeout;
            return _heartbeat < validity / 5 ? _heartbeat : validity / 5;
        }
        set => _heartbeat = value;
    }

    private TimeSpan _heartbeat = TimeSpan.FromSeconds(2);

    /// <summary>Global limits shared by every worker on every node; 0 means no limit.</summary>
    public int MaxPerSecond { get; set; }

    public int MaxPerHour { get; set; }

    /// <summary>Attempts before a deferred (4xx) delivery becomes Failed.</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>First retry delay after a 4xx; doubles per attempt up to an hour.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Failed ÷ attempted above this (after 100 attempts) pauses the send and says why.</summary>
    public double FailureRateThreshold { get; set; } = 0.2;

    /// <summary>
    /// No delivery progress for this long while Sending pauses the send and says why; so does a relay that
    /// has not answered for this long (refused, dropped or silent connections).
    /// </summary>
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

    /// <summary>What start-up refuses, with the setting to fix.</summary>
    public IEnumerable<string> Problems()
    {
        if (BatchSize < 1)
        {
            yield return "Sending:BatchSize must be at least 1.";
        }

        if (Concurrency < 1)
        {
            yield return "Sending:Concurrency must be at least 1.";
        }

        if (LeaseDuration < TimeSpan.FromSeconds(1))
        {
            yield return "Sending:LeaseDuration must be at least one second.";
        }

        if (NodeTimeout < TimeSpan.FromSeconds(1))
        {
            yield return "Sending:NodeTimeout must be at least one second.";
        }

        if (MaxPerSecond < 0 || MaxPerHour < 0)
        {
            yield return "Sending:MaxPerSecond and Sending:MaxPerHour must be 0 (no limit) or more.";
        }
    }
}
