using System.Diagnostics.Metrics;

namespace Newsletter.Web.Sending;

/// <summary>
/// Counters for sent, deferred, failed and skipped deliveries, and a gauge of this process's sending rate
/// over the last minute, exported at /metrics (Prometheus). A stalled send shows as a rate of zero at once,
/// before the reconciler's stall timeout pauses it.
/// </summary>
public sealed class SendingMetrics : IDisposable
{
    public const string MeterName = "Newsletter.Sending";

    private readonly Meter _meter;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _deferred;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _skipped;
    private readonly System.Collections.Concurrent.ConcurrentQueue<(long AtMs, long Count)> _recent = new();
    private readonly Lock _trimGate = new();

    public SendingMetrics(IMeterFactory meters, SendNode node, TimeProvider clock)
    {
        _meter = meters.Create(MeterName);
        _sent = _meter.CreateCounter<long>("newsletter.deliveries.sent", description: "Messages accepted by the SMTP server");
        _deferred = _meter.CreateCounter<long>("newsletter.deliveries.deferred", description: "Temporary failures (4xx), retried later");
        _failed = _meter.CreateCounter<long>("newsletter.deliveries.failed", description: "Permanent failures (5xx or retries exhausted)");
        _skipped = _meter.CreateCounter<long>("newsletter.deliveries.skipped", description: "Recipients no longer active at send time");
        _meter.CreateObservableGauge("newsletter.sending.rate", RatePerSecond, unit: "{message}/s", description: "Messages accepted per second over the last minute, by this process");
        // Zero while the relay answers; an alert on "> 60" says "mail is not going out" before any reader notices.
        _meter.CreateObservableGauge("newsletter.relay.failing", () => node.Relay.FailingSince is { } since ? (clock.GetUtcNow() - since).TotalSeconds : 0.0,
            unit: "s", description: "How long this process's sends to the SMTP relay have been failing (0 while it answers)");
    }

    /// <summary>Messages accepted per second over the last minute.</summary>
    public double RatePerSecond()
    {
        Trim(Environment.TickCount64);
        return _recent.Sum(r => r.Count) / 60.0;
    }

    // Trimmed on every record too, so a process whose /metrics nobody scrapes keeps only the last minute.
    private void Trim(long now)
    {
        lock (_trimGate)
        {
            while (_recent.TryPeek(out var oldest) && oldest.AtMs < now - 60_000)
            {
                _recent.TryDequeue(out _);
            }
        }
    }

    public void Record(IEnumerable<DeliveryOutcome> outcomes)
    {
        foreach (var group in outcomes.GroupBy(o => o.Status))
        {
            var n = group.LongCount();
            switch (group.Key)
            {
                case DeliveryStatus.Sent:
                    _sent.Add(n);
                    _recent.Enqueue((Environment.TickCount64, n));
                    Trim(Environment.TickCount64);
                    break;
                case DeliveryStatus.Deferred:
                    _deferred.Add(n);
                    break;
                case DeliveryStatus.Failed:
                    _failed.Add(n);
                    break;
                case DeliveryStatus.Skipped:
                    _skipped.Add(n);
                    break;
            }
        }
    }

    public void Dispose() => _meter.Dispose();
}
