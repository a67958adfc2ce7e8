using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

/// <summary>An issue email with three included notes (their tables and footnotes) reads on a phone without scrolling sideways.</summary>
public class IssueEmailWidthTests
{
    [Fact]
    public async Task AnIssueWithThreeIncludedNotesFitsAPhoneAndEachNoteKeepsItsFootnotes()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = new AppProcess();
        await app.StartAsync();
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(20_000);
        await Browser.SetUpOwnerAsync(page);

        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("Three notes in one issue");
        await page.GetByLabel("Body (Markdown)").FillAsync("Three notes this time, with their tables.[^1]\n\n- [x] written\n- [ ] sent\n\n[^1]: And a footnote of the issue's own.");
        foreach (var title in new[] { "^Exactly-once delivery is a ledger", "^Measuring tail latency honestly", "^SQLite in production" })
        {
            await page.GetByLabel(new Regex(title)).CheckAsync();
        }

        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");
        var id = Regex.Match(page.Url, @"/admin/issues/(\d+)").Groups[1].Value;

        foreach (var width in new[] { 375, 1280 })
        {
            var mail = await context.NewPageAsync();
            await mail.SetViewportSizeAsync(width, 900);
            await mail.GotoAsync($"/admin/preview/issues/{id}/email.html");
            await Assertions.Expect(mail.GetByRole(AriaRole.Heading, new() { Name = "Three notes in one issue" })).ToBeVisibleAsync();
            await mail.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Root, "screenshots", $"email-three-notes-{width}.png"), FullPage = true });
            // A full page is too tall to look at: one screen around the first of the notes' tables too.
            await mail.Locator("table:not([role=presentation])").First.ScrollIntoViewIfNeededAsync();
            await mail.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Root, "screenshots", $"email-three-notes-{width}-table.png") });

            // The page itself never scrolls sideways; a wide table scrolls inside its own box.
            var scrollWidth = await mail.EvaluateAsync<int>("document.documentElement.scrollWidth");
            Assert.True(scrollWidth <= width, $"the email is {scrollWidth} px wide in a {width} px window");
            Assert.True(await mail.Locator("table:not([role=presentation])").CountAsync() >= 3, "the notes' tables are in the email");

            // Task lists as marks (mail clients strip inputs), and footnote links that land on their own note's footnote.
            Assert.Equal(0, await mail.Locator(".body input").CountAsync());
            await Assertions.Expect(mail.Locator(".body").GetByText("☑").First).ToBeVisibleAsync();
            var ids = await mail.EvaluateAsync<string[]>("Array.from(document.querySelectorAll('[id]')).map(e => e.id)");
            Assert.Equal(ids.Length, ids.Distinct().Count());
            var targets = await mail.EvaluateAsync<string[]>("Array.from(document.querySelectorAll('a[href^=\"#\"]')).map(a => a.getAttribute('href').slice(1))");
            Assert.NotEmpty(targets);
            Assert.All(targets, t => Assert.Contains(t, ids));
        }

        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }
}
