using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Newsletter.Testing;
using Newsletter.Web.Author;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.BrowserTests;

public class ChartsAndBioTests
{
    private static BrowserNewPageOptions Phone(AppProcess app) => new()
    {
        BaseURL = app.BaseUrl,
        ViewportSize = new ViewportSize { Width = 375, Height = 812 },
        DeviceScaleFactor = 2,
        IsMobile = true,
        HasTouch = true,
    };

    [Fact]
    public async Task TheChartsRenderWithData()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = new AppProcess();
        await app.StartAsync();
        var issueId = await SeedAsync(app);

        var page = await browser.NewPageAsync(ReaderSite.Desktop(app));
        await page.GotoAsync("/admin/setup");
        await page.GetByLabel("Your name").FillAsync("Ines Okafor-Lind");
        await page.GetByLabel("Email").FillAsync("ines@example.org");
        await page.GetByLabel("Password").FillAsync("a long and memorable passphrase");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();

        // The readers chart: the wide drawing on a desktop, one line per kind of event, and the numbers as a table.
        var figure = page.Locator("figure[data-chart=readers]");
        var svg = figure.Locator("svg.trend-wide");
        await Assertions.Expect(svg).ToBeVisibleAsync();
        await Assertions.Expect(figure.Locator("svg.trend-narrow")).ToBeHiddenAsync();
        Assert.Equal(["subscribed", "confirmed", "unsubscribed", "bounced", "complained"],
            await svg.Locator("g[data-series]").EvaluateAllAsync<string[]>("gs => gs.map(g => g.dataset.series)"));
        Assert.Contains("40 subscribed", await svg.Locator("desc").TextContentAsync(), StringComparison.Ordinal);
        await Assertions.Expect(figure.Locator("li[data-series=subscribed] .trend-total")).ToHaveTextAsync("40");
        await figure.GetByText("The numbers as a table").ClickAsync();
        await Assertions.Expect(figure.Locator("details table tbody tr")).ToHaveCountAsync(30);
        await Browser.ScreenshotAsync(page, "admin-dashboard-charts");

        // Weeks, by a plain link.
        await page.GetByRole(AriaRole.Link, new() { Name = "Weeks" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("readers=week"));
        await Assertions.Expect(page.Locator("figure[data-chart=readers] details table tbody tr")).ToHaveCountAsync(26);

        // The issue's chart on its progress page.
        await page.GotoAsync($"/admin/issues/{issueId}/progress");
        var issueChart = page.Locator($"figure[data-chart=issue-{issueId}]");
        await Assertions.Expect(issueChart.Locator("svg.trend-wide")).ToBeVisibleAsync();
        Assert.Equal(["delivered", "deferred", "failed"],
            await issueChart.Locator("svg.trend-wide g[data-series]").EvaluateAllAsync<string[]>("gs => gs.map(g => g.dataset.series)"));
        await Assertions.Expect(issueChart.Locator("li[data-series=delivered] .trend-total")).ToHaveTextAsync("24");
        await Assertions.Expect(issueChart.Locator("li[data-series=failed] .trend-total")).ToHaveTextAsync("2");
        var reactions = page.Locator($"figure[data-chart=issue-{issueId}-readers]");
        Assert.Equal(["bounced", "complained", "unsubscribed"],
            await reactions.Locator("svg.trend-wide g[data-series]").EvaluateAllAsync<string[]>("gs => gs.map(g => g.dataset.series)"));
        await Assertions.Expect(reactions.Locator("li[data-series=complained] .trend-total")).ToHaveTextAsync("1");
        await Browser.ScreenshotAsync(page, "admin-issue-progress-chart");

        // On a phone: the narrow drawing, legible without zooming, and no sideways scrolling.
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 375, Height = 812 }, DeviceScaleFactor = 2, IsMobile = true, HasTouch = true,
        });
        await context.AddCookiesAsync((await page.Context.CookiesAsync()).Select(c => new Cookie { Name = c.Name, Value = c.Value, Domain = c.Domain, Path = c.Path, HttpOnly = c.HttpOnly, Secure = c.Secure, SameSite = c.SameSite }));
        var phone = await context.NewPageAsync();
        await phone.GotoAsync("/admin");
        await Assertions.Expect(phone.Locator("figure[data-chart=readers] svg.trend-narrow")).ToBeVisibleAsync();
        await Assertions.Expect(phone.Locator("figure[data-chart=readers] svg.trend-wide")).ToBeHiddenAsync();
        Assert.True(await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "the dashboard scrolls sideways on a phone");
        await Browser.ScreenshotAsync(phone, "admin-dashboard-charts-phone");
        await phone.GotoAsync($"/admin/issues/{issueId}/progress");
        await Browser.ScreenshotAsync(phone, "admin-issue-progress-chart-phone");
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("career-about.md")]
    [InlineData("newsletter-about.md")]
    public async Task EachExampleBioRendersEverySectionInTheWrittenOrder(string example)
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = new AppProcess(sampleNotes: false);
        var source = Path.Combine(RepoPaths.Root, "notes", "examples", example);
        File.Copy(source, Path.Combine(app.NotesFolder, "about.md"));
        await app.StartAsync();

        // What the file says, read the way the app reads it.
        var profile = BioProfile.Parse(NoteFile.Parse("about.md", await File.ReadAllTextAsync(source, TestContext.Current.CancellationToken)).ProfileJson);
        Assert.NotEmpty(profile.Sections);
        var kinds = profile.Sections.Select(s => s.Kind.ToString().ToLowerInvariant()).ToArray();
        var titles = profile.Sections.Select(s => s.Title ?? s.DefaultTitle).Where(t => t is { Length: > 0 }).ToArray();

        foreach (var (options, name) in new[] { (ReaderSite.Desktop(app), "desktop"), (Phone(app), "phone") })
        {
            var page = await browser.NewPageAsync(options);
            await page.GotoAsync("/about");
            var sections = page.Locator("article.bio > section");
            Assert.Equal(kinds, await sections.EvaluateAllAsync<string[]>("ss => ss.map(s => s.dataset.sectionKind)"));
            Assert.Equal(titles, (await sections.Locator("> h2").AllTextContentsAsync()).Select(t => t.Trim()));
            for (var i = 0; i < kinds.Length; i++)
            {
                await Assertions.Expect(sections.Nth(i)).ToBeVisibleAsync();
            }

            await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = profile.Name, Level = 1 })).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator(".bio-tagline")).ToHaveTextAsync(profile.Tagline!);
            await Assertions.Expect(page.Locator(".site-footer")).ToContainTextAsync(profile.Name!);
            Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), $"{example} scrolls sideways ({name})");
            await Browser.ScreenshotAsync(page, $"about-{Path.GetFileNameWithoutExtension(example)}-{name}");
        }

        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    /// <summary>
    /// Forty readers over the last four weeks with their history, and one issue sent to twenty-four of them whose
    /// outcomes and follow-ups are spread over its first day. Written straight into the app's SQLite file.
    /// </summary>
    private static async Task<int> SeedAsync(AppProcess app)
    {
        var options = new DbContextOptionsBuilder<AppDbContext>().UseSqlite($"Data Source={Path.Combine(app.DataFolder, "newsletter.db")}").Options;
        await using var db = new AppDbContext(options);
        var now = DateTime.UtcNow;
        var readers = Enumerable.Range(0, 40).Select(i => new Subscriber
        {
            Email = $"reader{i}@example.org", EmailKey = $"reader{i}@example.org", Source = "form",
            Status = i % 10 == 3 ? SubscriberStatus.Unsubscribed : SubscriberStatus.Active, CreatedAt = now.AddDays(-(i * 0.7) - 1),
        }).ToList();
        db.Subscribers.AddRange(readers);
        await db.SaveChangesAsync();
        for (var i = 0; i < readers.Count; i++)
        {
            var at = readers[i].CreatedAt;
            db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = readers[i].Id, Kind = SubscriberEventKind.Subscribed, At = at, Source = "form" });
            if (i % 8 != 5)
            {
                db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = readers[i].Id, Kind = SubscriberEventKind.Confirmed, At = at.AddHours(2), Source = "link" });
            }

            if (i % 10 == 3)
            {
                db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = readers[i].Id, Kind = SubscriberEventKind.Unsubscribed, At = now.AddDays(-(i % 6)), Source = "link" });
            }
        }

        var start = now.AddHours(-20);
        var issue = new Issue { Number = 1, Slug = "charted", Subject = "Field notes, November", Status = IssueStatus.Sent, StartedAt = start, CompletedAt = start.AddHours(1), RecipientCount = 28 };
        db.Issues.Add(issue);
        await db.SaveChangesAsync();
        long Ms(DateTime t) => new DateTimeOffset(t, TimeSpan.Zero).ToUnixTimeMilliseconds();
        for (var i = 0; i < 28; i++)
        {
            var status = i < 24 ? DeliveryStatus.Sent : i < 26 ? DeliveryStatus.Failed : DeliveryStatus.Deferred;
            var at = start.AddMinutes(i * 1.5);
            db.Deliveries.Add(new Delivery { IssueId = issue.Id, SubscriberId = readers[i].Id, Status = status, SentAtMs = status == DeliveryStatus.Sent ? Ms(at) : null, LastAttemptAtMs = Ms(at), Attempts = 1 });
        }

        db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = readers[1].Id, Kind = SubscriberEventKind.Unsubscribed, At = start.AddHours(3), Source = "list-unsubscribe" });
        db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = readers[2].Id, Kind = SubscriberEventKind.Bounced, At = start.AddHours(1), Source = "dsn" });
        db.SubscriberEvents.Add(new SubscriberEvent { SubscriberId = readers[4].Id, Kind = SubscriberEventKind.Complained, At = start.AddHours(9), Source = "arf" });
        await db.SaveChangesAsync();
        return issue.Id;
    }
}
