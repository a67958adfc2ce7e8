using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Charts;

/// <summary>How the dashboard's reader chart groups time.</summary>
public enum ChartPeriod
{
    Day,
    Week,
    Month,
}

/// <summary>
/// The list's history by day, week or month, from the reader history (SubscriberEvents): who joined, confirmed,
/// unsubscribed, bounced or complained. The database counts events per UTC hour (Data/Providers/ReaderHistorySql.cs);
/// the hours are put into the author's days, weeks and months here, so the periods follow Site:TimeZone (a zone
/// with a half-hour offset puts its first half hour of a day into the day before).
/// </summary>
public sealed class ReaderHistory(AppDbContext db, ReaderHistorySql sql, IOptions<SiteOptions> site, TimeProvider clock)
{
    /// <summary>How many periods the chart shows, most recent last.</summary>
    public static int Span(ChartPeriod period) => period switch
    {
        ChartPeriod.Day => 30,
        ChartPeriod.Week => 26,
        _ => 12,
    };

    // Joining takes three routes (the form, an author's add, an import); the chart counts them as one line.
    private static readonly SubscriberEventKind[] Kinds =
    [
        SubscriberEventKind.Subscribed, SubscriberEventKind.AddedByAuthor, SubscriberEventKind.Imported,
        SubscriberEventKind.Confirmed, SubscriberEventKind.Unsubscribed, SubscriberEventKind.Bounced, SubscriberEventKind.Complained,
    ];

    public async Task<Chart> ReadAsync(ChartPeriod period, CancellationToken ct)
    {
        var zone = site.Value.Zone;
        var today = TimeZoneInfo.ConvertTimeFromUtc(clock.GetUtcNow().UtcDateTime, zone).Date;
        var starts = PeriodStarts(period, today);
        // Where clocks go forward at midnight (Havana, Santiago) that midnight does not exist: the day starts an hour later.
        var start = DateTime.SpecifyKind(starts[0], DateTimeKind.Unspecified);
        var fromUtc = TimeZoneInfo.ConvertTimeToUtc(zone.IsInvalidTime(start) ? start.AddHours(1) : start, zone);

        var rows = await sql.CountPerHourAsync(db, fromUtc, Kinds, ct);
        string[] keys = ["subscribed", "confirmed", "unsubscribed", "bounced", "complained"];
        var values = keys.ToDictionary(k => k, _ => new int[starts.Count]);
        foreach (var r in rows)
        {
            var hour = DateTime.ParseExact(r.Hour, "yyyy-MM-dd HH", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
            var index = IndexOf(starts, TimeZoneInfo.ConvertTimeFromUtc(hour, zone));
            if (index >= 0)
            {
                values[KeyOf((SubscriberEventKind)r.Kind)][index] += r.Count;
            }
        }

        var labels = starts.Select(s => Label(period, s)).ToList();
        var series = new List<ChartSeries>
        {
            new("subscribed", "Subscribed", values["subscribed"]),
            new("confirmed", "Confirmed", values["confirmed"]),
            new("unsubscribed", "Unsubscribed", values["unsubscribed"]),
            new("bounced", "Bounced", values["bounced"]),
            new("complained", "Complained", values["complained"]),
        };
        var unit = period switch { ChartPeriod.Day => "day", ChartPeriod.Week => "week", _ => "month" };
        var totals = string.Join(", ", series.Select(s => $"{s.Values.Sum():N0} {s.Label.ToLowerInvariant()}"));
        var description = $"Readers per {unit} over the last {starts.Count} {unit}s ({labels[0]} to {labels[^1]}): {totals}.";
        return new Chart("readers", $"Readers per {unit}", description, unit == "week" ? "Week of" : unit == "day" ? "Day" : "Month", labels, series);
    }

    private static string KeyOf(SubscriberEventKind kind) => kind switch
    {
        SubscriberEventKind.Confirmed => "confirmed",
        SubscriberEventKind.Unsubscribed => "unsubscribed",
        SubscriberEventKind.Bounced => "bounced",
        SubscriberEventKind.Complained => "complained",
        _ => "subscribed",
    };

    /// <summary>The first local day of each period, oldest first; weeks start on Monday (ISO 8601).</summary>
    internal static List<DateTime> PeriodStarts(ChartPeriod period, DateTime today)
    {
        var span = Span(period);
        var last = period switch
        {
            ChartPeriod.Day => today,
            ChartPeriod.Week => today.AddDays(-(((int)today.DayOfWeek + 6) % 7)),
            _ => new DateTime(today.Year, today.Month, 1),
        };
        return [.. Enumerable.Range(0, span).Select(i => period switch
        {
            ChartPeriod.Day => last.AddDays(i - span + 1),
            ChartPeriod.Week => last.AddDays(7 * (i - span + 1)),
            _ => last.AddMonths(i - span + 1),
        })];
    }

    private static int IndexOf(List<DateTime> starts, DateTime local)
    {
        if (local < starts[0])
        {
            return -1;
        }

        var i = starts.BinarySearch(local);
        return i >= 0 ? i : ~i - 1;
    }

    private static string Label(ChartPeriod period, DateTime start) => period switch
    {
        ChartPeriod.Month => start.ToString("MMM yyyy", CultureInfo.InvariantCulture),
        _ => start.ToString("d MMM", CultureInfo.InvariantCulture),
    };
}
