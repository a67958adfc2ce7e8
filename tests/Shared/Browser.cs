#if NEWSLETTER_BROWSER
using Microsoft.Playwright;

namespace Newsletter.Testing;

/// <summary>Debian's chromium driven by Playwright: nothing is downloaded, the browser is the system's.</summary>
public static class Browser
{
    public const string Chromium = "/usr/bin/chromium";

    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        Requires.Tool(Chromium, "apt-get install chromium");
        // Playwright's expectations give up after 5 s by default; on a loaded CI machine an autosave (1.5 s after
        // typing stops, then a request) or a page load can take longer without anything being wrong.
        Assertions.SetDefaultExpectTimeout(20_000);
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage", "--no-first-run", "--disable-component-update", "--disable-sync"],
        });
        return (playwright, browser);
    }

    /// <summary>A fresh install's setup through its form: the owner account, signed in, on the dashboard.</summary>
    public static async Task SetUpOwnerAsync(IPage page, string email = "maren@example.org", string password = "a long and memorable passphrase")
    {
        await page.GotoAsync("/admin/setup");
        await page.GetByLabel("Your name").FillAsync("Maren Ostrowski");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();
    }

    /// <summary>Screenshots go to screenshots/ at the repository root (git-ignored) for a person to look at.</summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        var folder = Path.Combine(RepoPaths.Root, "screenshots");
        Directory.CreateDirectory(folder);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(folder, name + ".png"), FullPage = true });
    }
}
#endif
