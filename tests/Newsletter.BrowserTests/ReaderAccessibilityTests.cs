using System.Text.Json;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

/// <summary>
/// axe-core on every public page, in the light and the dark scheme: one h1, labelled fields, alt text,
/// contrast, landmarks. axe is injected as a script, which the site's CSP rightly forbids, so this one
/// browser context bypasses CSP. Install: npm install --no-save --prefix tests/Newsletter.BrowserTests axe-core@4
/// </summary>
public class ReaderAccessibilityTests
{
    private static string AxePath => Path.Combine(RepoPaths.Root, "tests", "Newsletter.BrowserTests", "node_modules", "axe-core", "axe.min.js");

    [Fact]
    public async Task EveryPublicPagePassesAxeInLightAndDarkSchemes()
    {
        if (!File.Exists(AxePath))
        {
            Requires.Missing("axe-core is not installed (npm install --no-save --prefix tests/Newsletter.BrowserTests axe-core@4).");
        }

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
                Assert.Equal(1, await page.Locator("h1").CountAsync());
                await page.AddScriptTagAsync(new PageAddScriptTagOptions { Path = AxePath });
                var violations = await page.EvaluateAsync<JsonElement>("""
                    async () => {
                        const result = await axe.run(document, { resultTypes: ['violations'] });
                        return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
                    }
                    """);
                failures.AddRange(violations.EnumerateArray().Select(v => $"{url} [{scheme}] {v.GetString()}"));
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }
}
