using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

public class ReplyJourneyTests
{
    [Fact]
    public async Task AReplyArrivesAndIsAnsweredFromTheAdmin()
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
            ["Mail__FromAddress"] = "notes@field-notes.example",
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

        await page.GotoAsync("/admin/subscribers/new");
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync("ada@example.org");
        await page.GetByLabel("Add as active: they already agreed").CheckAsync();
        await page.GetByLabel("Where did they agree?").FillAsync("asked in person at the meetup, 2026-11-30");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add subscriber" }).ClickAsync();
        await Assertions.Expect(page.GetByText("ada@example.org").First).ToBeVisibleAsync();

        // A reader answers a note, the way Postfix hands mail to the pipe; a stranger writes too.
        var reply = "From: Ada Lovelace <ada@example.org>\r\nTo: notes@field-notes.example\r\nSubject: Re: Measuring tail latency honestly\r\nMessage-ID: <ada-1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCoordinated omission bit us too: our p99 looked fine until we fixed the load generator.\r\n\r\nWould you write about HdrHistogram next?\r\n\r\nOn Mon, 30 Nov 2026, Field Notes wrote:\r\n> Most latency numbers are measured in a way that hides the tail.\r\n> Here is how to measure it honestly.\r\n";
        var (code, output) = await app.PipeAsync(reply, "process-inbound");
        Assert.True(code == 0, output);
        Assert.Contains("Reply: a reply kept", output, StringComparison.Ordinal);
        (code, output) = await app.PipeAsync("From: someone@example.net\r\nSubject: Hello\r\nMessage-ID: <s-1@example.net>\r\n\r\nDo you take guest posts?\r\n", "process-inbound");
        Assert.True(code == 0, output);

        await page.GotoAsync("/admin");
        var nav = page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link, new() { NameRegex = new Regex("^Replies") });
        await Assertions.Expect(nav).ToContainTextAsync("2");
        await nav.ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Replies", Exact = true })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByText("unknown reader")).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "admin-replies-inbox");
        await page.SetViewportSizeAsync(375, 800);
        await Browser.ScreenshotAsync(page, "admin-replies-inbox-phone");
        await page.SetViewportSizeAsync(1280, 900);

        await page.GetByRole(AriaRole.Link, new() { NameRegex = new Regex("Ada Lovelace") }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Measuring tail latency honestly" })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Note: Measuring tail latency honestly" })).ToBeVisibleAsync();
        // The quote is folded until asked for.
        await Assertions.Expect(page.GetByText("hides the tail", new() { Exact = false })).Not.ToBeVisibleAsync();
        await page.GetByText("Quoted text").ClickAsync();
        await Assertions.Expect(page.GetByText("hides the tail", new() { Exact = false })).ToBeVisibleAsync();

        await page.GetByLabel("Your answer").FillAsync("Thank you, Ada. HdrHistogram is next on my list.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send answer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("Answer queued");
        var answer = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.EnvelopeTo == "ada@example.org");
        Assert.Equal("ada-1@example.org", answer.Message.InReplyTo);
        Assert.Equal("Re: Measuring tail latency honestly", answer.Message.Subject);
        Assert.Contains("HdrHistogram is next", answer.Message.TextBody, StringComparison.Ordinal);

        // With Ada's yes on record, her words go under the note, with the name she chose.
        await page.GetByText("Publish as a comment").ClickAsync();
        await page.GetByLabel("Name to show").FillAsync("Ada");
        await page.GetByLabel("The reader agreed to have this published").CheckAsync();
        await page.GetByLabel("How did they agree?").FillAsync("said yes when I asked by email");
        await page.GetByRole(AriaRole.Button, new() { Name = "Publish", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("Published");
        await page.ReloadAsync();
        await Assertions.Expect(page.GetByText("Sent", new() { Exact = true })).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "admin-replies-thread");
        await page.SetViewportSizeAsync(375, 800);
        await Browser.ScreenshotAsync(page, "admin-replies-thread-phone");
        await page.SetViewportSizeAsync(1280, 900);

        await page.GotoAsync("/notes/measuring-tail-latency-honestly");
        var comments = page.Locator(".comments");
        await Assertions.Expect(comments).ToContainTextAsync("Coordinated omission bit us too");
        await Assertions.Expect(comments).ToContainTextAsync("Ada");
        await Assertions.Expect(comments).Not.ToContainTextAsync("ada@example.org");
        await Assertions.Expect(comments).Not.ToContainTextAsync("hides the tail");
        await comments.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Root, "screenshots", "note-comment.png") });
    }
}
