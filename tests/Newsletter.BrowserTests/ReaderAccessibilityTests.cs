using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

/// <summary>axe-core (Axe) on every public page, in the light and the dark scheme.</summary>
public class ReaderAccessibilityTests
{
    [Fact]
    public async Task EveryPublicPagePassesAxeInLightAndDarkSchemes()
    {
        Axe.Require();
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = await ReaderSite.StartAsync();
        var failures = new List<string>();
        foreach (var scheme in new[] { ColorScheme.Light, ColorScheme.Dark })
        {
            await using var context = await browser.NewContextAsync(new BrowserNewContextOptions
            {
                BaseURL = app.BaseUrl,
                BypassCSP = true,
                ColorScheme = scheme,
                ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
            });
            var page = await context.NewPageAsync();
            foreach (var url in ReaderSite.PublicPages)
            {
                await page.GotoAsync(url);
                failures.AddRange(await Axe.CheckAsync(page, $"{url} [{scheme}]"));
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }
}
