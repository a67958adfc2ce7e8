using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;

namespace Newsletter.Web.Sending;

public sealed record ProgressSnapshot(DeliveryCounts Counts, int Percent, double PerSecond, string Rate, string Eta, string? Relay);

/// <summary>An issue's progress as the progress page's script and the API read it; done once Sent or Cancelled.</summary>
public sealed record ProgressReport(IssueStatus Status, string? Error, int Percent, int Recipients, int Sent, int Deferred, int Failed, int Skipped, int Uncertain, int Held,
    string? Relay, string Rate, string Eta, bool Done)
{
    public static ProgressReport From(IssueStatus status, string? pausedReason, ProgressSnapshot p) => new(status, pausedReason, p.Percent, p.Counts.Total, p.Counts.Sent,
        p.Counts.Deferred, p.Counts.Failed, p.Counts.Skipped, p.Counts.Uncertain, p.Counts.Held, p.Relay, p.Rate, p.Eta, status is IssueStatus.Sent or IssueStatus.Cancelled);
}

/// <summary>Counts, rate and ETA for the progress page and its live JSON.</summary>
public sealed class IssueProgress(AppDbContext db, Ledger ledger, TimeProvider clock, Microsoft.Extensions.Options.IOptions<SendingOptions> options)
{
    public async Task<ProgressSnapshot> ReadAsync(int issueId, CancellationToken ct)
    {
        var counts = await ledger.CountsAsync(issueId, ct);
        var now = ledger.NowMs;
        // The rate over the last minute of accepted messages: what the SMTP server is taking right now.
        var recent = await db.Deliveries.CountAsync(d => d.IssueId == issueId && d.Status == DeliveryStatus.Sent && d.SentAtMs >= now - 60_000, ct);
        var first = await db.Deliveries.Where(d => d.IssueId == issueId && d.SentAtMs != null).MinAsync(d => (long?)d.SentAtMs, ct);
        var window = first is null ? 0 : Math.Clamp((now - first.Value) / 1000.0, 1, 60);
        var perSecond = window == 0 ? 0 : recent / window;
        var left = counts.Pending + counts.Sending + counts.Deferred;
        var percent = counts.Total == 0 ? 0 : (int)(counts.Done * 100L / counts.Total);
        var eta = left == 0 ? "done" : perSecond < 0.01 ? "—" : TimeSpan.FromSeconds(left / perSecond).ToString(@"hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture);
        var relay = counts.Finished ? null : await RelayStatus.DescribeAsync(db, clock, options.Value, ct);
        return new ProgressSnapshot(counts, percent, perSecond, relay is null ? $"{perSecond:N1} messages/s" : "0 messages/s: the relay is not answering", eta, relay);
    }
}
