using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Charts;

/// <summary>
/// What became of an issue since its send started, as running totals: delivered, deferred (still waiting),
/// failed from the ledger (Deliveries), and the readers among its recipients who unsubscribed, bounced or
/// complained within seven days of the start (SubscriberEvents). Times are bucketed by the database with
/// integer arithmetic on Unix milliseconds, which SQLite and PostgreSQL compute alike.
/// </summary>
public sealed class IssueActivity(AppDbContext db, IOptions<SiteOptions> site, TimeProvider clock)
{
    /// <summary>Reader events this long after the start still count against the issue.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromDays(7);

    private static readonly TimeSpan[] Buckets =
    [
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15), TimeSpan.FromHours(1),
        TimeSpan.FromHours(3), TimeSpan.FromHours(6), TimeSpan.FromDays(1),
    ];

    private const int MaxPoints = 48;

    /// <summary>Two charts, each on its own scale: the ledger's outcomes, and what recipients did after. Null before the send starts.</summary>
    public async Task<(Chart Delivery, Chart Readers)?> ReadAsync(Issue issue, CancellationToken ct)
    {
        var id = issue.Id;
        var startMs = issue.StartedAt is { } started
            ? new DateTimeOffset(started, TimeSpan.Zero).ToUnixTimeMilliseconds()
            : await db.Deliveries.Where(d => d.IssueId == id).MinAsync(d => d.SentAtMs, ct);
        if (startMs is not { } from)
        {
            return null;
        }

        var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var endMs = Math.Max(from + 60_000, Math.Min(nowMs, from + (long)Window.TotalMilliseconds));
        var bucket = (long)Buckets.FirstOrDefault(b => (endMs - from) / b.TotalMilliseconds <= MaxPoints - 1, Buckets[^1]).TotalMilliseconds;
        // Point 0 is the start itself (all zero); point i is the running total at the end of bucket i - 1, the last
        // bucket being the one now is in. (One more point was drawn, and labelled, minutes ahead of the clock.)
        var points = (int)Math.Ceiling((endMs - from) / (double)bucket) + 1;

        // One aggregate per outcome and bucket: a million-reader issue returns at most a few hundred rows.
        var ledger = await db.Deliveries.AsNoTracking()
            .Where(d => d.IssueId == id && (d.Status == DeliveryStatus.Sent || d.Status == DeliveryStatus.Deferred || d.Status == DeliveryStatus.Failed))
            .Select(d => new { d.Status, At = d.Status == DeliveryStatus.Sent ? d.SentAtMs : d.LastAttemptAtMs })
            .Where(d => d.At != null)
            .GroupBy(d => new { d.Status, Bucket = (d.At!.Value - from) / bucket })
            .Select(g => new { g.Key.Status, g.Key.Bucket, Count = g.Count() })
            .ToListAsync(ct);

        var fromUtc = DateTimeOffset.FromUnixTimeMilliseconds(from).UtcDateTime;
        var untilUtc = fromUtc + Window;
        SubscriberEventKind[] kinds = [SubscriberEventKind.Unsubscribed, SubscriberEventKind.Bounced, SubscriberEventKind.Complained];
        var readers = await db.SubscriberEvents.AsNoTracking()
            .Where(e => kinds.Contains(e.Kind) && e.At >= fromUtc && e.At < untilUtc
                && db.Deliveries.Any(d => d.IssueId == id && d.SubscriberId == e.SubscriberId && d.Status == DeliveryStatus.Sent))
            .Select(e => new { e.Kind, e.At })
            .ToListAsync(ct);

        var delivered = new int[points];
        var deferred = new int[points];
        var failed = new int[points];
        var unsubscribed = new int[points];
        var bounced = new int[points];
        var complained = new int[points];
        int Index(long b) => (int)Math.Clamp(b + 1, 1, points - 1);
        foreach (var r in ledger)
        {
            var target = r.Status switch { DeliveryStatus.Sent => delivered, DeliveryStatus.Deferred => deferred, _ => failed };
            target[Index(r.Bucket)] += r.Count;
        }

        foreach (var e in readers)
        {
            var target = e.Kind switch { SubscriberEventKind.Unsubscribed => unsubscribed, SubscriberEventKind.Bounced => bounced, _ => complained };
            target[Index(((long)(e.At - fromUtc).TotalMilliseconds) / bucket)]++;
        }

        var s = site.Value;
        var multiDay = (endMs - from) > TimeSpan.FromDays(1).TotalMilliseconds;
        var labels = Enumerable.Range(0, points)
            // The last point is "so far": labelled with the time now, not the end of the bucket now is in.
            .Select(i => s.ToLocal(fromUtc.AddMilliseconds(Math.Min(i * (double)bucket, Math.Max(0, nowMs - from)))).ToString(multiDay ? "d MMM HH:mm" : "HH:mm", CultureInfo.InvariantCulture))
            .ToList();
        var since = $"since the send started on {s.ToLocal(fromUtc).ToString("d MMM yyyy HH:mm", CultureInfo.InvariantCulture)} {s.TimeZone}, one point every {Describe(TimeSpan.FromMilliseconds(bucket))}";
        string Totals(List<ChartSeries> list) => string.Join(", ", list.Select(x => $"{x.Values[^1]:N0} {x.Label.ToLowerInvariant()}"));
        var xAxis = $"Time ({s.TimeZone})";

        List<ChartSeries> outcomes =
        [
            new("delivered", "Delivered", Running(delivered)),
            new("deferred", "Deferred, still waiting", Running(deferred)),
            new("failed", "Failed", Running(failed)),
        ];
        List<ChartSeries> after =
        [
            new("bounced", "Bounced", Running(bounced)),
            new("complained", "Complained", Running(complained)),
            new("unsubscribed", "Unsubscribed", Running(unsubscribed)),
        ];
        var delivery = new Chart($"issue-{id}", "Deliveries", $"Messages by outcome, running totals {since}: {Totals(outcomes)}.", xAxis, labels, outcomes) { Cumulative = true };
        var readersChart = new Chart($"issue-{id}-readers", "Recipients who left or complained",
            $"Recipients' bounces, complaints and unsubscribes within 7 days of the start, running totals {since}: {Totals(after)}.", xAxis, labels, after) { Cumulative = true, FirstStyle = 3 };
        return (delivery, readersChart);
    }

    private static int[] Running(int[] values)
    {
        var sum = 0;
        return [.. values.Select(v => sum += v)];
    }

    private static string Describe(TimeSpan t) => t.TotalDays >= 1 ? "day" : t.TotalHours >= 1 ? $"{t.TotalHours:0} hour{(t.TotalHours > 1 ? "s" : "")}" : $"{t.TotalMinutes:0} minute{(t.TotalMinutes > 1 ? "s" : "")}";
}
