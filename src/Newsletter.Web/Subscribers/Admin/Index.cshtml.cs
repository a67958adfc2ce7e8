using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.Subscribers.Admin;

public sealed class IndexModel(AppDbContext db, SubscriberGrowth growth, IMemoryCache cache, TimeProvider clock) : PageModel
{
    private const int PageSize = 50;

    public SubscriberQuery Query { get; private set; } = new(null, null, null);

    public IReadOnlyList<Subscriber> Rows { get; private set; } = [];

    public Dictionary<SubscriberStatus, int> Counts { get; private set; } = [];

    public int Total => Counts.Values.Sum();

    public long? Before { get; private set; }

    public long? NextBefore { get; private set; }

    public string ChartSvg { get; private set; } = "";

    [TempData(Key = Newsletter.Web.Admin.AdminFlash.Key)]
    public string? Message { get; set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        Query = SubscriberQuery.From(Request);
        Before = long.TryParse(Request.Query["before"], out var b) ? b : null;

        // Keyset paging: "older than id X" stays as fast on page 20,000 as on page 1, where OFFSET would
        // walk every skipped row.
        var query = Query.Apply(db).AsNoTracking();
        if (Before is { } before)
        {
            query = query.Where(s => s.Id < before);
        }

        Rows = await query.Include(s => s.Tags).OrderByDescending(s => s.Id).Take(PageSize + 1).ToListAsync(ct);
        if (Rows.Count > PageSize)
        {
            Rows = [.. Rows.Take(PageSize)];
            NextBefore = Rows[^1].Id;
        }

        Counts = await SubscriberCounts.ReadAsync(db, ct);
        // The chart reads the whole table; a minute-old picture is fine and keeps the page fast at 1M rows.
        ChartSvg = await cache.GetOrCreateAsync("subscribers-chart", async e =>
        {
            e.AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1);
            return await BuildChartAsync(ct);
        }) ?? "";
    }

    private async Task<string> BuildChartAsync(CancellationToken ct)
    {
        const int days = 90;
        var today = clock.GetUtcNow().UtcDateTime.Date;
        var from = today.AddDays(-days + 1);
        var active = Counts.GetValueOrDefault(SubscriberStatus.Active);
        var byDay = await growth.ConfirmedPerDayAsync(db, from, ct);
        var points = new int[days];
        var running = active;
        for (var i = days - 1; i >= 0; i--)
        {
            points[i] = running;
            running -= byDay.GetValueOrDefault(from.AddDays(i));
        }

        return Svg(points, from);
    }

    private static string Svg(int[] points, DateTime from)
    {
        const int w = 720, h = 160, pad = 28;
        var max = Math.Max(1, points.Max());
        var min = Math.Min(points.Min(), max - 1);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Active subscribers grew from {points[0]:N0} to {points[^1]:N0} over 90 days\">");
        var path = new StringBuilder();
        for (var i = 0; i < points.Length; i++)
        {
            var x = pad + (i * (w - 2 * pad) / (double)(points.Length - 1));
            var y = h - pad - ((points[i] - min) * (h - 2 * pad) / (double)Math.Max(1, max - min));
            path.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? 'M' : 'L')}{x:F1},{y:F1}");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<path d=\"{path}\" class=\"chart-line\" fill=\"none\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{pad}\" y=\"{h - 6}\" class=\"chart-label\">{from:d MMM}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{w - pad}\" y=\"{h - 6}\" text-anchor=\"end\" class=\"chart-label\">today</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{pad}\" y=\"16\" class=\"chart-label\">{max:N0}</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }
}
