using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

public class ReaderJourneyTests
{
    [Fact]
    public async Task AReaderGoesFromHomeToANoteATagSearchAndAnIssueFromTheArchive()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = await ReaderSite.StartAsync();
        var page = await browser.NewPageAsync(ReaderSite.Desktop(app));

        // Home: the latest notes and the recent issues.
        await page.GotoAsync("/");
        await Browser.ScreenshotAsync(page, "reader-home-desktop");
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Exactly once, and other lies" })).ToBeVisibleAsync();

        // A note, then one of its tags.
        await page.GetByRole(AriaRole.Link, new() { Name = "Exactly-once delivery is a ledger and a bounded window" }).First.ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Exactly-once delivery is a ledger and a bounded window");
        await Browser.ScreenshotAsync(page, "reader-note-desktop");
        await page.Locator("article.post .tags").GetByRole(AriaRole.Link, new() { Name = "#reliability" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("#reliability");
        // The tag page lists the issue with that tag as well as the notes.
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Exactly once, and other lies" })).ToBeVisibleAsync();

        // Search from the navigation.
        await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link, new() { Name = "Search" }).ClickAsync();
        await page.GetByLabel("Search notes and issues").FillAsync("duplicate window");
        await page.GetByLabel("Search notes and issues").PressAsync("Enter");
        await Assertions.Expect(page).ToHaveURLAsync(new Regex(@"/search\?q=duplicate\+window$"));
        await Assertions.Expect(page.Locator(".search-results mark").First).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("for “duplicate window”");
        await Browser.ScreenshotAsync(page, "reader-search-desktop");

        // The archive, and an issue from it.
        await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link, new() { Name = "Archive" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("The archive");
        await Assertions.Expect(page.Locator(".archive-entry .mark-web-only")).ToHaveCountAsync(1);
        await Browser.ScreenshotAsync(page, "reader-archive-desktop");
        await page.GetByRole(AriaRole.Link, new() { Name = "Exactly once, and other lies" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Exactly once, and other lies");
        await Assertions.Expect(page.Locator(".included-notes a")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator(".post-nav a[rel=next]")).ToContainTextAsync("Tail latency, honestly");
        await Assertions.Expect(page.GetByLabel("Email address")).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "reader-issue-desktop");

        // The feed is discoverable from the page head and from the footer, and it is a feed.
        var rss = await page.Locator("head link[rel=alternate][type='application/rss+xml']").First.GetAttributeAsync("href");
        Assert.Equal("/feeds/issues.rss", rss);
        var feed = await page.APIRequest.GetAsync(rss!);
        Assert.Equal(200, feed.Status);
        Assert.Contains("<rss", await feed.TextAsync(), StringComparison.Ordinal);
        await page.Locator("footer").GetByRole(AriaRole.Link, new() { Name = "issues (RSS)" }).ClickAsync();

        await page.GotoAsync("/about");
        await Browser.ScreenshotAsync(page, "reader-about-desktop");
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PublicPagesFitAPhoneScreenWithoutScrollingSideways()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = await ReaderSite.StartAsync();
        var page = await browser.NewPageAsync(ReaderSite.Phone(app));
        var overflowing = new List<string>();
        foreach (var url in ReaderSite.PublicPages)
        {
            await page.GotoAsync(url);
            // Against the viewport we asked for: a mobile browser widens its layout viewport to fit content
            // that overflows, so window.innerWidth would grow with the very overflow we look for.
            var widths = new[] { await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth"), page.ViewportSize!.Width };
            var (scrollWidth, innerWidth) = (widths[0], widths[1]);
            if (scrollWidth > innerWidth)
            {
                overflowing.Add($"{url}: {scrollWidth}px wide in a {innerWidth}px viewport");
            }

            await Browser.ScreenshotAsync(page, "reader-" + ReaderSite.ScreenshotName(url) + "-phone");
        }

        Assert.Empty(overflowing);
    }
}
