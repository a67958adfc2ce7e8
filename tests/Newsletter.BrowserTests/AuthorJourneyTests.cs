using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

public class AuthorJourneyTests
{
    [Fact]
    public async Task ANewAuthorSetsUpSignsInWritesAndPublishesANoteThatReadersSee()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = new AppProcess();
        await app.StartAsync();

        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });

        // First run: the admin sends a new visitor to setup.
        await page.GotoAsync("/admin");
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/admin/setup$"));
        await Browser.ScreenshotAsync(page, "admin-setup");
        await page.GetByLabel("Your name").FillAsync("Maren Ostrowski");
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync("a long and memorable passphrase");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();

        // Sign out and back in, as on any later day.
        // Sign out sits in the navigation of every admin page.
        await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/admin/login"));
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync("a long and memorable passphrase");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();

        // Write a note; the live preview renders it as readers will see it.
        await page.GetByRole(AriaRole.Link, new() { Name = "Write a note" }).First.ClickAsync();
        await page.GetByLabel("Title").FillAsync("Written in the browser");
        await page.GetByLabel("Tags").FillAsync("browser, journeys");
        await page.GetByLabel("Markdown").FillAsync("A note with **bold** words and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        await Assertions.Expect(page.Locator("#preview strong")).ToHaveTextAsync("bold");
        await Browser.ScreenshotAsync(page, "admin-note-editor");
        await page.GetByRole(AriaRole.Button, new() { Name = "Publish" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Published");

        // A reader sees it on the home page and can open it.
        var reader = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl });
        await reader.GotoAsync("/");
        await reader.GetByRole(AriaRole.Link, new() { Name = "Written in the browser" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "Written in the browser", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(reader.Locator(".prose strong")).ToHaveTextAsync("bold");
        await Assertions.Expect(reader.GetByRole(AriaRole.Link, new() { Name = "#journeys" })).ToBeVisibleAsync();
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }
}
