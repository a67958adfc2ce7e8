using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

public class SubscriberJourneyTests
{
    [Fact]
    public async Task AReaderSubscribesConfirmsFromTheOutboxAppearsOnTheListAndUnsubscribesFromTheEmail()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = new AppProcess();
        await app.StartAsync();

        // The author sets up first, so the outbox and subscriber list can be checked.
        var author = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl });
        await author.GotoAsync("/admin/setup");
        await author.GetByLabel("Your name").FillAsync("Maren");
        await author.GetByLabel("Email").FillAsync("maren@example.org");
        await author.GetByLabel("Password").FillAsync("a long and memorable passphrase");
        await author.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(author.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();

        // A reader subscribes on the home page.
        var reader = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl });
        await reader.GotoAsync("/");
        await reader.Locator("#subscribe").GetByLabel("Email address").FillAsync("new.reader@example.org");
        await reader.Locator("#subscribe").GetByRole(AriaRole.Button, new() { Name = "Subscribe" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "Check your inbox" })).ToBeVisibleAsync();

        // The author finds the confirmation in the outbox; the reader follows its link.
        string? confirmUrl = null;
        for (var i = 0; i < 100 && confirmUrl is null; i++)
        {
            await author.GotoAsync("/admin/outbox");
            var link = author.GetByRole(AriaRole.Link, new() { NameRegex = new Regex("Confirm your subscription") });
            if (await link.CountAsync() > 0)
            {
                await link.First.ClickAsync();
                confirmUrl = await author.Locator("a[href*='/confirm/']").First.GetAttributeAsync("href");
            }
            else
            {
                await Task.Delay(300, TestContext.Current.CancellationToken);
            }
        }

        Assert.NotNull(confirmUrl);
        await Browser.ScreenshotAsync(author, "admin-outbox-message");
        await reader.GotoAsync(confirmUrl!);
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "Confirm your subscription" })).ToBeVisibleAsync();
        await reader.GetByRole(AriaRole.Button, new() { Name = "Confirm my subscription" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "You're subscribed" })).ToBeVisibleAsync();

        // They are on the list, active.
        await author.GotoAsync("/admin/subscribers");
        var row = author.GetByRole(AriaRole.Row).Filter(new() { HasText = "new.reader@example.org" });
        await Assertions.Expect(row).ToContainTextAsync("Active");
        await Browser.ScreenshotAsync(author, "admin-subscribers");

        // The welcome email's unsubscribe link works.
        string? unsubscribeUrl = null;
        for (var i = 0; i < 100 && unsubscribeUrl is null; i++)
        {
            await author.GotoAsync("/admin/outbox");
            var welcome = author.GetByRole(AriaRole.Link, new() { NameRegex = new Regex("Welcome to") });
            if (await welcome.CountAsync() > 0)
            {
                await welcome.First.ClickAsync();
                unsubscribeUrl = await author.Locator("a[href*='/unsubscribe/']").First.GetAttributeAsync("href");
            }
            else
            {
                await Task.Delay(300, TestContext.Current.CancellationToken);
            }
        }

        Assert.NotNull(unsubscribeUrl);
        await reader.GotoAsync(unsubscribeUrl!);
        await reader.GetByRole(AriaRole.Button, new() { Name = "Unsubscribe" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "You're unsubscribed" })).ToBeVisibleAsync();
        await author.GotoAsync("/admin/subscribers?q=new.reader");
        await Assertions.Expect(author.GetByRole(AriaRole.Row).Filter(new() { HasText = "new.reader@example.org" })).ToContainTextAsync("Unsubscribed");
    }
}
