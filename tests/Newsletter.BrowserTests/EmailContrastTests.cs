using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

/// <summary>
/// Reader emails keep their text readable in the light and the dark scheme, as a mail client that follows
/// prefers-color-scheme shows them (Apple Mail, iOS): the confirmation's button was a blank bar in dark mode, its
/// text recoloured to the button's own colour, and a table's header cells light text on a light background.
/// </summary>
public class EmailContrastTests
{
    [Fact]
    public async Task TheConfirmationsButtonAndAnIssuesTableReadInBothSchemes()
    {
        Axe.Require();
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = new AppProcess();
        await app.StartAsync();
        // BypassCSP: the email preview's CSP forbids script, and axe is injected script.
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = app.BaseUrl, BypassCSP = true, ViewportSize = new ViewportSize { Width = 375, Height = 900 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(20_000);
        await Browser.SetUpOwnerAsync(page);

        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("Queues, measured");
        await page.GetByLabel("Body (Markdown)").FillAsync("What I measured, with [the raw numbers](https://example.org/raw).\n\n| queue | p99 |\n|---|---|\n| ours | 12 ms |\n| theirs | 40 ms |\n");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");
        var id = Regex.Match(page.Url, @"/admin/issues/(\d+)").Groups[1].Value;

        using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
        (await http.PostAsync("/subscribe", JsonContent.Create(new { email = "reader@example.org" }), TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        var confirm = await Outbox.WaitForAsync(app.PickupFolder, "reader@example.org", m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);

        var failures = new List<string>();
        foreach (var scheme in new[] { ColorScheme.Light, ColorScheme.Dark })
        {
            var mail = await context.NewPageAsync();
            await mail.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = scheme });
            await mail.SetContentAsync(confirm.HtmlBody!);
            await Assertions.Expect(mail.GetByRole(AriaRole.Link, new() { Name = "Confirm my subscription" })).ToBeVisibleAsync();
            failures.AddRange(await Axe.ContrastAsync(mail, $"confirmation [{scheme}]"));
            // axe leaves text in its background's own colour as "incomplete" (it may be hidden on purpose), so the
            // buttons are measured here: their text against their own background.
            foreach (var colours in await mail.EvaluateAsync<string[][]>("() => Array.from(document.querySelectorAll('a.button')).map(a => { const s = getComputedStyle(a); return [s.color, s.backgroundColor]; })"))
            {
                var ratio = Contrast(colours[0], colours[1]);
                if (ratio < 4.5)
                {
                    failures.Add($"confirmation [{scheme}]: the button's text {colours[0]} on {colours[1]} has a contrast of {ratio:F2}, under 4.5");
                }
            }

            await mail.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Root, "screenshots", $"email-confirm-375-{scheme.ToString().ToLowerInvariant()}.png"), FullPage = true });

            await mail.GotoAsync($"/admin/preview/issues/{id}/email.html");
            await Assertions.Expect(mail.GetByRole(AriaRole.Cell, new() { Name = "theirs" })).ToBeVisibleAsync();
            failures.AddRange(await Axe.ContrastAsync(mail, $"issue with a table [{scheme}]"));
            await mail.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Root, "screenshots", $"email-table-375-{scheme.ToString().ToLowerInvariant()}.png"), FullPage = true });
            await mail.CloseAsync();
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    /// <summary>WCAG's contrast ratio of two CSS rgb()/rgba() colours (opaque ones; a button's are).</summary>
    private static double Contrast(string a, string b)
    {
        static double Luminance(string css)
        {
            var parts = Regex.Matches(css, @"[\d.]+").Select(m => double.Parse(m.Value, System.Globalization.CultureInfo.InvariantCulture) / 255).Take(3)
                .Select(c => c <= 0.03928 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4)).ToArray();
            return 0.2126 * parts[0] + 0.7152 * parts[1] + 0.0722 * parts[2];
        }

        var (la, lb) = (Luminance(a), Luminance(b));
        return (Math.Max(la, lb) + 0.05) / (Math.Min(la, lb) + 0.05);
    }
}
