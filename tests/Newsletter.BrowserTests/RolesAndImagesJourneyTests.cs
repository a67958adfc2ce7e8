using System.Globalization;
using System.Text.RegularExpressions;
using ImageMagick;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

public class RolesAndImagesJourneyTests
{
    private const string OwnerPassword = "a long and memorable passphrase";

    private static async Task<AppProcess> StartAsync(SmtpServer smtp)
    {
        var app = new AppProcess(new Dictionary<string, string>
        {
            ["Mail__Transport"] = "Smtp",
            ["Mail__Smtp__Host"] = "127.0.0.1",
            ["Mail__Smtp__Port"] = smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["Mail__Smtp__Security"] = "None",
        });
        await app.StartAsync();
        return app;
    }

    private static async Task<IPage> OwnerPageAsync(IBrowser browser, AppProcess app, int width = 1280)
    {
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = width, Height = 900 } });
        page.SetDefaultTimeout(20_000);
        await page.GotoAsync("/admin/setup");
        await page.GetByLabel("Your name").FillAsync("Maren Ostrowski");
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync(OwnerPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();
        return page;
    }

    private static async Task AddReaderAsync(IPage page, string email)
    {
        await page.GotoAsync("/admin/subscribers/new");
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync(email);
        await page.GetByLabel("Add as active: they already agreed").CheckAsync();
        await page.GetByLabel("Where did they agree?").FillAsync("asked in person at the meetup");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add subscriber" }).ClickAsync();
        await Assertions.Expect(page.GetByText(email).First).ToBeVisibleAsync();
    }

    [Fact]
    public async Task AWriterCannotSend()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var smtp = await SmtpServer.StartAsync();
        await using var app = await StartAsync(smtp);
        var owner = await OwnerPageAsync(browser, app);
        await AddReaderAsync(owner, "ada@example.org");

        // The owner invites a writer from the authors page.
        await owner.GotoAsync("/admin/users");
        await owner.GetByLabel("Name").FillAsync("Wren Writer");
        await owner.GetByLabel("Email").FillAsync("wren@example.org");
        await owner.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("Writer");
        await owner.GetByRole(AriaRole.Button, new() { Name = "Send invitation" }).ClickAsync();
        await Assertions.Expect(owner.GetByRole(AriaRole.Status)).ToContainTextAsync("Invitation sent to wren@example.org, as a writer");
        var invitation = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.EnvelopeTo == "wren@example.org");
        var link = Regex.Match(invitation.Message.TextBody!, @"http://\S+/admin/reset-password\S+").Value;

        // The writer accepts, signs in and writes an issue.
        var writer = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        writer.SetDefaultTimeout(20_000);
        await writer.GotoAsync(link);
        await writer.GetByLabel("New password").FillAsync("wren's own long passphrase");
        await writer.GetByRole(AriaRole.Button, new() { Name = "Save password" }).ClickAsync();
        if (writer.Url.Contains("/admin/login", StringComparison.Ordinal))
        {
            await writer.GetByLabel("Email").FillAsync("wren@example.org");
            await writer.GetByLabel("Password").FillAsync("wren's own long passphrase");
            await writer.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        }

        await writer.GotoAsync("/admin/issues");
        await writer.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await writer.GetByLabel("Subject").FillAsync("A writer's first issue");
        await writer.GetByLabel("Body (Markdown)").FillAsync("Drafted by a writer, sent by an editor.");
        await writer.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Assertions.Expect(writer.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");

        // No send controls for them, and the page says who sends.
        await Assertions.Expect(writer.GetByText("Send now…")).ToHaveCountAsync(0);
        await Assertions.Expect(writer.GetByRole(AriaRole.Button, new() { Name = "Schedule" })).ToHaveCountAsync(0);
        await Assertions.Expect(writer.GetByText("an owner or editor schedules and sends them")).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(writer, "admin-issue-editor-writer");

        // A forged Send now (the Save button pointed at the send handler) is refused with the clear 403 page.
        await writer.Locator("button[formaction*='handler=Save']").EvaluateAsync("b => b.setAttribute('formaction', b.getAttribute('formaction').replace('handler=Save', 'handler=SendNow'))");
        var refused = await writer.RunAndWaitForResponseAsync(
            () => writer.Locator("button[formaction*='handler=SendNow']").ClickAsync(),
            r => r.Url.Contains("handler=SendNow", StringComparison.Ordinal));
        Assert.Equal(403, refused.Status);
        await Assertions.Expect(writer.GetByRole(AriaRole.Heading, new() { Name = "Not allowed" })).ToBeVisibleAsync();
        await Assertions.Expect(writer.GetByText("Nothing was changed")).ToBeVisibleAsync();

        // Nothing went out: the issue is still a draft (so no send was ever queued), and the invitation is the only message.
        await owner.GotoAsync("/admin/issues");
        await Assertions.Expect(owner.GetByRole(AriaRole.Row).Filter(new() { HasText = "A writer's first issue" })).ToContainTextAsync("Draft");
        Assert.Equal(1, smtp.Count);

        // The owner sees both authors and their roles, and the audit log of the invitation.
        await owner.GotoAsync("/admin/users");
        await Assertions.Expect(owner.Locator(".author-card").Filter(new() { HasText = "Wren Writer" })).ToContainTextAsync("Writer");
        await Browser.ScreenshotAsync(owner, "admin-users");
        await owner.SetViewportSizeAsync(375, 800);
        await Browser.ScreenshotAsync(owner, "admin-users-375");
        await owner.SetViewportSizeAsync(1280, 900);
        await owner.GotoAsync("/admin/audit");
        await Assertions.Expect(owner.GetByRole(AriaRole.Cell, new() { Name = "author.invite" })).ToBeVisibleAsync();
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnImageUploadsThroughTheFileInputAndShowsInTheEmail()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var smtp = await SmtpServer.StartAsync();
        await using var app = await StartAsync(smtp);
        var page = await OwnerPageAsync(browser, app);
        await AddReaderAsync(page, "grace@example.org");

        var file = Path.Combine(app.Root, "latency-chart.png");
        using (var chart = new MagickImage(MagickColors.White, 2400, 1200))
        {
            chart.Draw(new ImageMagick.Drawing.Drawables().StrokeColor(MagickColors.SteelBlue).StrokeWidth(24).Line(100, 1100, 2300, 200));
            chart.Format = MagickFormat.Png;
            await chart.WriteAsync(file, TestContext.Current.CancellationToken);
        }

        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("A picture of the tail");
        await page.GetByLabel("Body (Markdown)").FillAsync("The p99 before and after:\n\n");
        await page.GetByLabel("Image file").SetInputFilesAsync(file);
        await page.GetByLabel("Alt text (what the image shows)").FillAsync("p99 latency falls from 80 ms to 12 ms");
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload image" }).ClickAsync();
        await Assertions.Expect(page.Locator(".image-upload-status")).ToContainTextAsync("Inserted");
        var markdown = await page.GetByLabel("Body (Markdown)").InputValueAsync();
        var path = Regex.Match(markdown, @"!\[p99 latency falls from 80 ms to 12 ms\]\((/media/[0-9a-f]{64}\.png)\)").Groups[1].Value;
        Assert.NotEmpty(path);
        await Assertions.Expect(page.Locator($"#preview img[src='{path}']")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");
        await Browser.ScreenshotAsync(page, "admin-issue-editor-image");
        await page.SetViewportSizeAsync(375, 800);
        await Browser.ScreenshotAsync(page, "admin-issue-editor-image-375");
        await page.SetViewportSizeAsync(1280, 900);

        await page.GetByText("Send now…").ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Yes, send now" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-field=status]")).ToHaveTextAsync("Sent", new() { Timeout = 120_000 });
        await Assertions.Expect(page.Locator("[data-field=sent-by]")).ToContainTextAsync("Maren Ostrowski");

        var email = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.EnvelopeTo == "grace@example.org");
        var src = app.BaseUrl + path;
        Assert.Contains($"src=\"{src}\"", email.Message.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("width=\"600\" height=\"300\"", email.Message.HtmlBody, StringComparison.Ordinal);

        // The mail client's view: the email's HTML in a fresh page with no session, its image loaded from the site.
        var inbox = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 700, Height = 900 } });
        var image = await inbox.RunAndWaitForResponseAsync(() => inbox.SetContentAsync(email.Message.HtmlBody!), r => r.Url == src);
        Assert.Equal(200, image.Status);
        Assert.Contains("immutable", image.Headers["cache-control"], StringComparison.Ordinal);
        var width = await inbox.Locator($"img[src='{src}']").EvaluateAsync<int>("i => i.naturalWidth");
        Assert.Equal(1200, width);
        await inbox.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepoPaths.Root, "screenshots", "email-with-image.png"), FullPage = true });

        await page.GotoAsync("/admin/audit");
        await Assertions.Expect(page.GetByRole(AriaRole.Cell, new() { Name = "issue.send" })).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "admin-audit");
        await page.SetViewportSizeAsync(375, 800);
        await Browser.ScreenshotAsync(page, "admin-audit-375");
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }
}
