using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

public class IssueJourneyTests
{
    private static readonly string[] Readers = ["ada@example.org", "grace@example.org", "edsger@example.org"];

    [Fact]
    public async Task AnAuthorWritesPreviewsTestsAndSchedulesAnIssueThenWatchesItGoOutAndReadsItInTheArchive()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var smtp = await SmtpServer.StartAsync();
        await using var app = new AppProcess(new Dictionary<string, string>
        {
            ["Mail__Transport"] = "Smtp",
            ["Mail__Smtp__Host"] = "127.0.0.1",
            ["Mail__Smtp__Port"] = smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["Mail__Smtp__Security"] = "None",
        });
        await app.StartAsync();
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        page.SetDefaultTimeout(20_000);

        await page.GotoAsync("/admin/setup");
        await page.GetByLabel("Your name").FillAsync("Maren Ostrowski");
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync("a long and memorable passphrase");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();

        // Three readers who agreed in person.
        foreach (var reader in Readers)
        {
            await page.GotoAsync("/admin/subscribers/new");
            await page.GetByLabel("Email", new() { Exact = true }).FillAsync(reader);
            await page.GetByLabel("Add as active: they already agreed").CheckAsync();
            await page.GetByLabel("Where did they agree?").FillAsync("asked in person at the meetup, 2026-11-30");
            await page.GetByRole(AriaRole.Button, new() { Name = "Add subscriber" }).ClickAsync();
            await Assertions.Expect(page.GetByText(reader).First).ToBeVisibleAsync();
        }

        // Write the issue, with a working note included; the live preview renders the Markdown.
        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("Ledgers all the way down");
        await page.GetByLabel("Preheader").FillAsync("What a delivery ledger buys you, and what it costs.");
        await page.GetByLabel("Body (Markdown)").FillAsync("Hello **readers**.\n\nThis issue is about [the ledger](https://example.org/ledger).\n");
        await Assertions.Expect(page.Locator("#preview strong")).ToHaveTextAsync("readers");
        await page.GetByLabel(new Regex("^Exactly-once delivery is a ledger")).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");
        await Browser.ScreenshotAsync(page, "admin-issue-editor");
        var issueUrl = page.Url;

        // Preview: preflight, the email at two widths and as text, then a test copy through the real transport.
        await page.GetByRole(AriaRole.Link, new() { Name = "Preview and test" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Preflight" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator(".raw")).ToContainTextAsync("Exactly-once delivery is a ledger");
        var frame = page.FrameLocator("iframe.mail-frame.phone");
        await Assertions.Expect(frame.GetByText("Ledgers all the way down").First).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "admin-issue-preview");
        // A full-page capture leaves frames below the fold unpainted: the phone view gets its own.
        var phone = page.Locator("figure").Filter(new() { Has = page.Locator("iframe.mail-frame.phone") });
        await phone.ScrollIntoViewIfNeededAsync();
        await phone.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Root, "screenshots", "admin-issue-preview-phone.png") });
        await page.GetByLabel(new Regex("^Up to 5 addresses")).FillAsync("maren@example.org");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send test" }).ClickAsync();
        var test = (await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60))).Single();
        Assert.Equal("maren@example.org", test.EnvelopeTo);
        Assert.StartsWith("[Test] ", test.Message.Subject, StringComparison.Ordinal);

        // Schedule it two minutes ahead, in the author's time zone (the form shows and takes local time).
        await page.GotoAsync(issueUrl);
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        var at = TimeZoneInfo.ConvertTimeFromUtc(DateTime.UtcNow.AddMinutes(2), zone);
        await page.GetByLabel("Send at").FillAsync(at.ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture));
        await page.GetByRole(AriaRole.Button, new() { Name = "Schedule", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Scheduled for");
        await Assertions.Expect(page.Locator(".badge").First).ToHaveTextAsync("Scheduled");
        Assert.Equal(1, smtp.Count);

        // Watch it go out: the progress page polls by itself until the ledger is done.
        var id = Regex.Match(issueUrl, @"/admin/issues/(\d+)").Groups[1].Value;
        await page.GotoAsync($"/admin/issues/{id}/progress");
        await Assertions.Expect(page.Locator("[data-field=status]")).ToHaveTextAsync("Scheduled");
        await Assertions.Expect(page.Locator("[data-field=status]")).ToHaveTextAsync("Sent", new() { Timeout = 240_000 });
        await Assertions.Expect(page.Locator("[data-field=sent]")).ToHaveTextAsync("3");
        await Browser.ScreenshotAsync(page, "admin-issue-progress");
        var received = await smtp.WaitForAsync(1 + Readers.Length);
        Assert.Equal(Readers.Order(StringComparer.Ordinal), received.Skip(1).Select(r => r.EnvelopeTo).Order(StringComparer.Ordinal));

        // A reader finds it in the archive and reads it, with the included note.
        var reader2 = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl });
        await reader2.GotoAsync("/archive");
        await reader2.GetByRole(AriaRole.Link, new() { Name = "Ledgers all the way down" }).ClickAsync();
        await Assertions.Expect(reader2.GetByRole(AriaRole.Heading, new() { Name = "Ledgers all the way down", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(reader2.Locator(".prose strong").First).ToHaveTextAsync("readers");
        await Assertions.Expect(reader2.GetByRole(AriaRole.Link, new() { NameRegex = new Regex("^Exactly-once delivery is a ledger") }).First).ToBeVisibleAsync();
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }
}
