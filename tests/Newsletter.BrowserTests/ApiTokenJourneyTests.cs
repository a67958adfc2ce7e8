using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

public class ApiTokenJourneyTests
{
    [Fact]
    public async Task AnAuthorMakesATokenSeesItOnceAndReadsTheApiReferenceServedByTheAppItself()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = new AppProcess();
        await app.StartAsync();
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var refused = new List<string>();
        var elsewhere = new List<string>();
        page.Console += (_, m) =>
        {
            // Scalar 2.19's bundle still names fonts on its CDN even without its default fonts; the CSP refuses them
            // (nothing is fetched) and the system's fonts show. Anything else refused would be a broken page.
            if (page.Url.Contains("/admin/api-reference", StringComparison.Ordinal) && m.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase)
                && !m.Text.Contains("Loading the font 'https://fonts.scalar.com/", StringComparison.Ordinal))
            {
                refused.Add(page.Url + ": " + m.Text);
            }
        };
        // What was fetched (a response came back), not what was asked for and refused by the CSP.
        page.Response += (_, r) =>
        {
            if (!r.Url.StartsWith(app.BaseUrl, StringComparison.Ordinal) && !r.Url.StartsWith("data:", StringComparison.Ordinal))
            {
                elsewhere.Add(r.Url);
            }
        };

        await page.GotoAsync("/admin/setup");
        await page.GetByLabel("Your name").FillAsync("Maren Ostrowski");
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync("a long and memorable passphrase");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();

        await page.GetByRole(AriaRole.Link, new() { Name = "API tokens" }).ClickAsync();
        await page.GetByLabel("Name").FillAsync("import script");
        await page.GetByLabel("write", new() { Exact = false }).First.CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Make token" }).ClickAsync();
        var secret = (await page.Locator(".token-secret").TextContentAsync())!.Trim();
        Assert.Matches("^nl_[0-9a-f]{64}$", secret);
        await Browser.ScreenshotAsync(page, "admin-api-token-made");

        // Shown once: the list has only its first characters, and reloading the page does not bring it back.
        await page.GotoAsync("/admin/api-tokens");
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        await Assertions.Expect(page.GetByRole(AriaRole.Cell, new() { Name = "import script", Exact = true })).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "admin-api-tokens");

        await page.GetByRole(AriaRole.Link, new() { Name = "API reference" }).ClickAsync();
        await Assertions.Expect(page.GetByText("List subscribers").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Browser.ScreenshotAsync(page, "admin-api-reference");
        Assert.True(refused.Count == 0, string.Join("\n", refused));
        Assert.True(elsewhere.Count == 0, string.Join("\n", elsewhere));
    }
}
