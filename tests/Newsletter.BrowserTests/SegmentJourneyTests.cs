using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.BrowserTests;

/// <summary>Topics and segments end to end: a reader asks for only one topic, an author narrows an issue to a topic with the live count, and exactly the right readers get it.</summary>
public class SegmentJourneyTests
{
    [Fact]
    public async Task AReaderChoosesOnlyOneTopicAndAnAuthorSendsToATopicSeeingTheCountChange()
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
            ["Subscriptions__Topics__0"] = "rust",
            ["Subscriptions__Topics__1"] = "go",
        });
        await app.StartAsync();
        var options = new DbContextOptionsBuilder<AppDbContext>().UseSqlite($"Data Source={Path.Combine(app.DataFolder, "newsletter.db")}").Options;
        await using (var db = new AppDbContext(options))
        {
            Subscriber Reader(string email, params string[] tags) => new()
            {
                Email = email, EmailKey = email, Status = SubscriberStatus.Active, Source = "test", ConfirmedAt = DateTime.UtcNow,
                Tags = [.. tags.Select(t => new SubscriberTag { Tag = t })],
            };
            db.Subscribers.AddRange(Reader("ada@example.org", "rust"), Reader("grace@example.org", "rust", "go"), Reader("edsger@example.org"));
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        page.SetDefaultTimeout(20_000);

        // Grace asks for her preferences link, and wants only issues on go.
        await page.GotoAsync("/preferences");
        await page.GetByLabel("Email address").FillAsync("grace@example.org");
        await page.GetByRole(AriaRole.Button, new() { Name = "Email me a link" }).ClickAsync();
        var link = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.EnvelopeTo == "grace@example.org");
        var preferences = Regex.Match(link.Message.TextBody ?? "", @"https?://\S+/preferences/\S+").Value;
        await page.GotoAsync(new Uri(preferences).PathAndQuery);
        await Assertions.Expect(page.GetByLabel("Everything: every issue")).ToBeCheckedAsync();
        await page.GetByLabel("Only issues on the topics I tick").CheckAsync();
        await page.GetByLabel("#rust").UncheckAsync();
        await Assertions.Expect(page.GetByLabel("#go")).ToBeCheckedAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save preferences" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");
        await Assertions.Expect(page.GetByLabel("Only issues on the topics I tick")).ToBeCheckedAsync();
        await Browser.ScreenshotAsync(page, "preferences-only-these-topics");

        // The author writes an issue on rust: Grace (go only) is out of it from the start.
        await Browser.SetUpOwnerAsync(page);
        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("Borrowing without tears");
        await page.GetByLabel("Body (Markdown)").FillAsync("Hello **rust** readers.");
        await page.GetByLabel("Tags").FillAsync("rust");
        await page.GetByLabel("Tags").DispatchEventAsync("change");
        var count = page.Locator("#segment-count-value");
        await Assertions.Expect(count).ToHaveTextAsync("2 readers");
        // Narrowed to readers of rust: Edsger, who chose no topics, is out now.
        await page.GetByLabel("#rust").CheckAsync();
        await Assertions.Expect(count).ToHaveTextAsync("1 reader");
        await Browser.ScreenshotAsync(page, "admin-issue-segment");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");
        await Assertions.Expect(page.GetByLabel("#rust")).ToBeCheckedAsync();
        await Assertions.Expect(count).ToHaveTextAsync("1 reader");

        await page.GetByText("Send now…").ClickAsync();
        await Assertions.Expect(page.GetByText("Send “Borrowing without tears” to 1 reader now?")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Yes, send now" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new Regex(@"/admin/issues/\d+/progress$"));
        await Assertions.Expect(page.Locator("[data-field=status]")).ToHaveTextAsync("Sent", new() { Timeout = 60_000 });

        var issues = smtp.Messages().Where(m => m.Message.Subject == "Borrowing without tears").Select(m => m.EnvelopeTo).ToList();
        Assert.Equal(["ada@example.org"], issues);
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }
}
