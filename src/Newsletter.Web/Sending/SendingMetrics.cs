using System.Diagnostics.Metrics;

namespace Newsletter.Web.Sending;

/// <summary>Counters for sent, deferred, failed and skipped deliveries, exported at /metrics (Prometheus).</summary>
public sealed class SendingMetrics : IDisposable
{
    public const string MeterName = "Newsletter.Sending";

    private readonly Meter _meter;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _deferred;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _skipped;

    public SendingMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _sent = _meter.CreateCounter<long>("newsletter.deliveries.sent", description: "Messages accepted by the SMTP server");
        _deferred = _meter.CreateCounter<long>("newsletter.deliveries.deferred", description: "Temporary failures (4xx), retried later");
        _failed = _meter.CreateCounter<long>("newsletter.deliveries.failed", description: "Permanent failures (5xx or retries exhausted)");
        _skipped = _meter.CreateCounter<long>("newsletter.deliveries.skipped", description: "Recipients no longer active at send time");
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
