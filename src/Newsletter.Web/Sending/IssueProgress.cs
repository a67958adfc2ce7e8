using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;

namespace Newsletter.Web.Sending;

/// <summary>An issue's progress now; <paramref name="PollAfterMs"/> is how long a page or script watching it should wait before asking again.</summary>
public sealed record ProgressSnapshot(DeliveryCounts Counts, int Percent, double PerSecond, string Rate, string Eta, string? Relay, int PollAfterMs);

/// <summary>An issue's progress as the progress page's script and the API read it; done once Sent or Cancelled.</summary>
public sealed record ProgressReport(IssueStatus Status, string? Error, int Percent, int Recipients, int Sent, int Deferred, int Failed, int Skipped, int Uncertain, int Held,
    string? Relay, string Rate, string Eta, bool Done, int PollAfterMs)
{
    public static ProgressReport From(IssueStatus status, string? pausedReason, ProgressSnapshot p) => new(status, pausedReason, p.Percent, p.Counts.Total, p.Counts.Sent,
        p.Counts.Deferred, p.Counts.Failed, p.Counts.Skipped, p.Counts.Uncertain, p.Counts.Held, p.Relay, p.Rate, p.Eta, status is IssueStatus.Sent or IssueStatus.Cancelled, p.PollAfterMs);
}

/// <summary>Counts, rate and ETA for the progress page and its live JSON.</summary>
public sealed class IssueProgress(AppDbContext db, Ledger ledger, TimeProvider clock, Microsoft.Extensions.Options.IOptions<SendingOptions> options, Microsoft.Extensions.Options.IOptions<Site.SiteOptions> site)
{
    /// <summary>The page's pace for a small ledger: once a second.</summary>
    public const int FastestPollMs = 1_000;

    private const int SlowestPollMs = 15_000;

    /// <summary>
    /// How long a watcher waits before the next read: ten times what this one took, so one watcher costs the
    /// database a tenth of its time at most. The counts read every row of the issue: about 0.45 s for a million
    /// rows on this project's 2-core machine, which a page polling every second took from the send it watched.
    /// </summary>
    public static int PollAfterMs(TimeSpan cost) => (int)Math.Clamp(cost.TotalMilliseconds * 10, FastestPollMs, SlowestPollMs);

    public async Task<ProgressSnapshot> ReadAsync(int issueId, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var counts = await ledger.CountsAsync(issueId, ct);
        var now = ledger.NowMs;
        // The rate over the last minute of accepted messages: what the SMTP server is taking right now.
        var recent = await db.Deliveries.CountAsync(d => d.IssueId == issueId && d.Status == DeliveryStatus.Sent && d.SentAtMs >= now - 60_000, ct);
        // Over the whole minute once any message is older than that (a probe that finds one at once, oldest
        // first), else since the first: the first is looked for only in a send's first minute, when rows are few.
        var aMinuteAgo = now - 60_000;
        var window = await db.Deliveries.AnyAsync(d => d.IssueId == issueId && d.Status == DeliveryStatus.Sent && d.SentAtMs < aMinuteAgo, ct)
            ? 60
            : await db.Deliveries.Where(d => d.IssueId == issueId && d.SentAtMs != null).MinAsync(d => (long?)d.SentAtMs, ct) is { } first ? Math.Clamp((now - first) / 1000.0, 1, 60) : 0;
        var perSecond = window == 0 ? 0 : recent / window;
        var left = counts.Pending + counts.Sending + counts.Deferred;
        var percent = counts.Total == 0 ? 0 : (int)(counts.Done * 100L / counts.Total);
        // An issue with no ledger yet (a draft, a scheduled one) has nothing left because nothing began: not "done".
        var eta = counts.Total == 0 ? "—" : left == 0 ? "done" : perSecond < 0.01 ? "—" : TimeSpan.FromSeconds(left / perSecond).ToString(@"hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture);
        var relay = counts.Finished ? null : await RelayStatus.DescribeAsync(db, clock, options.Value, site.Value, ct);
        return new ProgressSnapshot(counts, percent, perSecond, relay is null ? $"{perSecond:N1} messages/s" : "0 messages/s: the relay is not answering", eta, relay,
            PollAfterMs(System.Diagnostics.Stopwatch.GetElapsedTime(started)));
    }
}
