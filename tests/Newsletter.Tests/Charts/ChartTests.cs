using System.Diagnostics;
using AngleSharp.Html.Parser;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Newsletter.Testing;
using Newsletter.Web.Charts;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Charts;

/// <summary>
/// The dashboard's reader chart and an issue's chart, on the database of the project that runs them (SQLite
/// here, PostgreSQL in Newsletter.Tests.PostgreSql): the date parts and millisecond buckets they ask the
/// database for must read the same on both.
/// </summary>
public class ChartTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class FixedClock(DateTime utc) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(utc, TimeSpan.Zero);
    }

    private static IOptions<SiteOptions> Zone(string zone) => Options.Create(new SiteOptions { TimeZone = zone });

    private static async Task<List<long>> ReadersAsync(AppDbContext db, int count, string prefix = "r")
    {
        var readers = Enumerable.Range(0, count).Select(i => new Subscriber { Email = $"{prefix}{i}@example.org", EmailKey = $"{prefix}{i}@example.org", Source = "test", Status = SubscriberStatus.Active }).ToList();
        db.Subscribers.AddRange(readers);
        await db.SaveChangesAsync(Ct);
        return [.. readers.Select(r => r.Id)];
    }

    [Fact]
    public async Task ReaderEventsAreCountedPerDayInTheAuthorsZoneAndJoiningRoutesShareOneLine()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var ids = await ReadersAsync(db, 3);
        // Berlin is UTC+1 in November: 23:30 UTC on the 3rd is half past midnight on the 4th there.
        var now = new DateTime(2026, 11, 10, 12, 0, 0, DateTimeKind.Utc);
        SubscriberEvent E(SubscriberEventKind kind, DateTime at, int reader = 0) => new() { SubscriberId = ids[reader], Kind = kind, At = at, Source = "test" };
        db.SubscriberEvents.AddRange(
            E(SubscriberEventKind.Subscribed, new DateTime(2026, 11, 3, 22, 30, 0, DateTimeKind.Utc)),
            E(SubscriberEventKind.Confirmed, new DateTime(2026, 11, 3, 23, 30, 0, DateTimeKind.Utc)),
            E(SubscriberEventKind.Imported, new DateTime(2026, 11, 4, 9, 0, 0, DateTimeKind.Utc), 1),
            E(SubscriberEventKind.AddedByAuthor, new DateTime(2026, 11, 4, 10, 0, 0, DateTimeKind.Utc), 2),
            E(SubscriberEventKind.Unsubscribed, new DateTime(2026, 11, 10, 8, 0, 0, DateTimeKind.Utc)),
            E(SubscriberEventKind.Bounced, new DateTime(2026, 11, 9, 8, 0, 0, DateTimeKind.Utc), 1),
            E(SubscriberEventKind.Complained, new DateTime(2026, 11, 9, 9, 0, 0, DateTimeKind.Utc), 2),
            // Not on the chart: other kinds, and events before the first day shown.
            E(SubscriberEventKind.PreferencesChanged, new DateTime(2026, 11, 9, 9, 0, 0, DateTimeKind.Utc)),
            E(SubscriberEventKind.Subscribed, new DateTime(2026, 9, 1, 9, 0, 0, DateTimeKind.Utc)));
        await db.SaveChangesAsync(Ct);

        var chart = await new ReaderHistory(db, scope.ServiceProvider.GetRequiredService<ReaderHistorySql>(), Zone("Europe/Berlin"), new FixedClock(now)).ReadAsync(ChartPeriod.Day, Ct);

        Assert.Equal(30, chart.Points.Count);
        Assert.Equal("10 Nov", chart.Points[^1]);
        int At(string series, string day) => chart.Series.Single(s => s.Key == series).Values[chart.Points.ToList().IndexOf(day)];
        Assert.Equal(1, At("subscribed", "3 Nov"));
        Assert.Equal(2, At("subscribed", "4 Nov"));
        Assert.Equal(1, At("confirmed", "4 Nov"));
        Assert.Equal(0, At("confirmed", "3 Nov"));
        Assert.Equal(1, At("unsubscribed", "10 Nov"));
        Assert.Equal(1, At("bounced", "9 Nov"));
        Assert.Equal(1, At("complained", "9 Nov"));
        Assert.Equal(3, chart.Series.Single(s => s.Key == "subscribed").Values.Sum());

        // Weeks start on Monday: 3 and 4 November 2026 are in the week of Monday 2 November, 9 and 10 in the next.
        var weeks = await new ReaderHistory(db, scope.ServiceProvider.GetRequiredService<ReaderHistorySql>(), Zone("Europe/Berlin"), new FixedClock(now)).ReadAsync(ChartPeriod.Week, Ct);
        Assert.Equal(["2 Nov", "9 Nov"], weeks.Points.TakeLast(2));
        Assert.Equal([3, 0], weeks.Series.Single(s => s.Key == "subscribed").Values.TakeLast(2));
        Assert.Equal([0, 1], weeks.Series.Single(s => s.Key == "unsubscribed").Values.TakeLast(2));

        var months = await new ReaderHistory(db, scope.ServiceProvider.GetRequiredService<ReaderHistorySql>(), Zone("Europe/Berlin"), new FixedClock(now)).ReadAsync(ChartPeriod.Month, Ct);
        Assert.Equal(12, months.Points.Count);
        Assert.Equal(["Sep 2026", "Oct 2026", "Nov 2026"], months.Points.TakeLast(3));
        Assert.Equal([1, 0, 3], months.Series.Single(s => s.Key == "subscribed").Values.TakeLast(3));
    }

    /// <summary>A hundred thousand history lines: the chart is one aggregate query. The time is printed, not asserted.</summary>
    [Fact]
    public async Task AHundredThousandEventsAreCountedExactly()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var ids = await ReadersAsync(db, 1000);
        var now = new DateTime(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        SubscriberEventKind[] kinds = [SubscriberEventKind.Subscribed, SubscriberEventKind.Confirmed, SubscriberEventKind.Unsubscribed, SubscriberEventKind.Bounced, SubscriberEventKind.Complained];
        for (var batch = 0; batch < 10; batch++)
        {
            db.SubscriberEvents.AddRange(Enumerable.Range(0, 10_000).Select(i => new SubscriberEvent
            {
                SubscriberId = ids[i % ids.Count],
                Kind = kinds[i % kinds.Length],
                // Spread over the last 300 days, so every period's chart has work to do.
                At = now.AddMinutes(-((batch * 10_000) + i) * 4.3),
                Source = "test",
            }));
            await db.SaveChangesAsync(Ct);
            db.ChangeTracker.Clear();
        }

        var history = new ReaderHistory(db, scope.ServiceProvider.GetRequiredService<ReaderHistorySql>(), Zone("UTC"), new FixedClock(now));
        foreach (var period in Enum.GetValues<ChartPeriod>())
        {
            await history.ReadAsync(period, Ct);
            var watch = Stopwatch.StartNew();
            var chart = await history.ReadAsync(period, Ct);
            watch.Stop();
            TestContext.Current.TestOutputHelper?.WriteLine($"{TestDatabases.Default}: readers per {period} over 100,000 events: {watch.Elapsed.TotalMilliseconds:F0} ms");
            var first = DateTime.SpecifyKind(ReaderHistory.PeriodStarts(period, now.Date)[0], DateTimeKind.Utc);
            var expected = await db.SubscriberEvents.CountAsync(e => e.At >= first, Ct);
            Assert.Equal(expected, chart.Series.Sum(s => s.Values.Sum()));
        }
    }

    [Fact]
    public async Task AnIssuesChartRunsTotalsOfItsOutcomesAndOfItsRecipientsEventsWithinSevenDays()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var ids = await ReadersAsync(db, 6);
        var stranger = (await ReadersAsync(db, 1, "stranger"))[0];
        var start = new DateTime(2026, 11, 2, 10, 0, 0, DateTimeKind.Utc);
        var issue = new Issue { Slug = "charted", Subject = "Charted", Status = IssueStatus.Sent, StartedAt = start };
        db.Issues.Add(issue);
        await db.SaveChangesAsync(Ct);
        long Ms(TimeSpan after) => new DateTimeOffset(start + after, TimeSpan.Zero).ToUnixTimeMilliseconds();
        db.Deliveries.AddRange(
            new Delivery { IssueId = issue.Id, SubscriberId = ids[0], Status = DeliveryStatus.Sent, SentAtMs = Ms(TimeSpan.FromSeconds(5)), LastAttemptAtMs = Ms(TimeSpan.FromSeconds(5)) },
            new Delivery { IssueId = issue.Id, SubscriberId = ids[1], Status = DeliveryStatus.Sent, SentAtMs = Ms(TimeSpan.FromMinutes(3)), LastAttemptAtMs = Ms(TimeSpan.FromMinutes(3)) },
            new Delivery { IssueId = issue.Id, SubscriberId = ids[2], Status = DeliveryStatus.Sent, SentAtMs = Ms(TimeSpan.FromHours(2)), LastAttemptAtMs = Ms(TimeSpan.FromHours(2)) },
            new Delivery { IssueId = issue.Id, SubscriberId = ids[3], Status = DeliveryStatus.Deferred, LastAttemptAtMs = Ms(TimeSpan.FromMinutes(1)), NextAttemptAtMs = Ms(TimeSpan.FromHours(9)) },
            new Delivery { IssueId = issue.Id, SubscriberId = ids[4], Status = DeliveryStatus.Failed, LastAttemptAtMs = Ms(TimeSpan.FromMinutes(1)) },
            new Delivery { IssueId = issue.Id, SubscriberId = ids[5], Status = DeliveryStatus.Skipped });
        SubscriberEvent E(long reader, SubscriberEventKind kind, TimeSpan after) => new() { SubscriberId = reader, Kind = kind, At = start + after, Source = "test" };
        db.SubscriberEvents.AddRange(
            E(ids[0], SubscriberEventKind.Unsubscribed, TimeSpan.FromHours(1)),
            E(ids[1], SubscriberEventKind.Complained, TimeSpan.FromDays(2)),
            E(ids[2], SubscriberEventKind.Bounced, TimeSpan.FromDays(1)),
            // Not this issue's: after the seven days, before the start, a reader it did not reach, and another kind.
            E(ids[1], SubscriberEventKind.Unsubscribed, TimeSpan.FromDays(8)),
            E(ids[2], SubscriberEventKind.Unsubscribed, TimeSpan.FromHours(-1)),
            E(stranger, SubscriberEventKind.Unsubscribed, TimeSpan.FromHours(1)),
            E(ids[5], SubscriberEventKind.Unsubscribed, TimeSpan.FromHours(1)),
            E(ids[0], SubscriberEventKind.PreferencesChanged, TimeSpan.FromHours(1)));
        await db.SaveChangesAsync(Ct);

        var charts = await new IssueActivity(db, Zone("UTC"), new FixedClock(start.AddDays(30))).ReadAsync(issue, Ct);

        Assert.NotNull(charts);
        var (delivery, readers) = charts.Value;
        Assert.Equal(["delivered", "deferred", "failed"], delivery.Series.Select(s => s.Key));
        Assert.Equal(["bounced", "complained", "unsubscribed"], readers.Series.Select(s => s.Key));
        var all = delivery.Series.Concat(readers.Series).ToList();
        int Final(string key) => all.Single(s => s.Key == key).Values[^1];
        Assert.Equal(3, Final("delivered"));
        Assert.Equal(1, Final("deferred"));
        Assert.Equal(1, Final("failed"));
        Assert.Equal(1, Final("unsubscribed"));
        Assert.Equal(1, Final("complained"));
        Assert.Equal(1, Final("bounced"));
        Assert.True(delivery.Points.Count <= 49);
        Assert.Equal(delivery.Points, readers.Points);
        // Running totals over the seven days in six-hour steps: they start at zero, the first step holds the first
        // hours, and no line ever goes down.
        Assert.All(all, s => Assert.Equal(0, s.Values[0]));
        Assert.Equal(3, all.Single(s => s.Key == "delivered").Values[1]);
        Assert.Equal(0, all.Single(s => s.Key == "bounced").Values[1]);
        Assert.All(all, s => Assert.True(s.Values.Zip(s.Values.Skip(1)).All(p => p.First <= p.Second)));

        // Sixteen seconds into the send: the start and "so far", labelled with the time now, not minutes ahead of it.
        var early = await new IssueActivity(db, Zone("UTC"), new FixedClock(start.AddSeconds(16))).ReadAsync(issue, Ct);
        Assert.Equal(["10:00", "10:00"], early!.Value.Delivery.Points);
        var later = await new IssueActivity(db, Zone("UTC"), new FixedClock(start.AddMinutes(4).AddSeconds(30))).ReadAsync(issue, Ct);
        Assert.Equal("10:04", later!.Value.Delivery.Points[^1]);

        var notStarted = new Issue { Slug = "draft", Subject = "Draft" };
        db.Issues.Add(notStarted);
        await db.SaveChangesAsync(Ct);
        Assert.Null(await new IssueActivity(db, Zone("UTC"), new FixedClock(start)).ReadAsync(notStarted, Ct));
    }

    [Fact]
    public async Task TheDashboardDrawsTheReaderChartWithItsTableAndSwitchesPeriodsWithPlainLinks()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var ids = await ReadersAsync(db, 2);
            db.SubscriberEvents.AddRange(
                new SubscriberEvent { SubscriberId = ids[0], Kind = SubscriberEventKind.Subscribed, At = DateTime.UtcNow.AddDays(-1), Source = "test" },
                new SubscriberEvent { SubscriberId = ids[1], Kind = SubscriberEventKind.Unsubscribed, At = DateTime.UtcNow.AddDays(-2), Source = "test" });
            await db.SaveChangesAsync(Ct);
        }

        var parser = new HtmlParser();
        foreach (var (query, points) in new[] { ("", 30), ("?readers=week", 26), ("?readers=month", 12), ("?readers=<script>", 30) })
        {
            var page = await parser.ParseDocumentAsync(await client.GetStringAsync("/admin" + query, Ct));
            var figure = page.QuerySelector("figure[data-chart=readers]");
            Assert.NotNull(figure);
            var svg = figure.QuerySelector("svg.trend-wide");
            Assert.NotNull(svg);
            Assert.Equal("img", svg.GetAttribute("role"));
            Assert.NotNull(svg.QuerySelector("title"));
            Assert.Contains("1 subscribed", svg.QuerySelector("desc")!.TextContent);
            Assert.Equal(["subscribed", "confirmed", "unsubscribed", "bounced", "complained"], svg.QuerySelectorAll("g[data-series]").Select(g => g.GetAttribute("data-series")));
            Assert.Equal(points, figure.QuerySelectorAll("details table tbody tr").Length);
            Assert.Equal(3, page.QuerySelectorAll("nav.segmented a").Length);
            Assert.Single(page.QuerySelectorAll("nav.segmented a[aria-current=page]"));
        }
    }

    [Fact]
    public async Task TheNiceMaximumIsARoundNumberInFourWholeSteps()
    {
        Assert.Equal(4, SvgLineChart.NiceMax(0));
        Assert.Equal(8, SvgLineChart.NiceMax(5));
        Assert.Equal(100, SvgLineChart.NiceMax(97));
        Assert.Equal(200, SvgLineChart.NiceMax(101));
        Assert.Equal(4000, SvgLineChart.NiceMax(3999));
        await Task.CompletedTask;
    }
}
