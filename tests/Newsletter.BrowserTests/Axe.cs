using System.Text.Json;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

/// <summary>
/// axe-core injected into a page: one h1, labelled fields, alt text, contrast, landmarks. The site's CSP
/// rightly forbids injected script, so pages checked here come from a context made with BypassCSP.
/// Install: npm install --no-save --prefix tests/Newsletter.BrowserTests axe-core@4
/// </summary>
internal static class Axe
{
    private static string ScriptPath => Path.Combine(RepoPaths.Root, "tests", "Newsletter.BrowserTests", "node_modules", "axe-core", "axe.min.js");

    /// <summary>Skips on a laptop without axe-core, fails in CI.</summary>
    public static void Require()
    {
        if (!File.Exists(ScriptPath))
        {
            Requires.Missing("axe-core is not installed (npm install --no-save --prefix tests/Newsletter.BrowserTests axe-core@4).");
        }
    }

    /// <summary>Only axe's colour-contrast rule, for documents that are not pages (an email's HTML has no landmarks or h1 to hold it to).</summary>
    public static async Task<IReadOnlyList<string>> ContrastAsync(IPage page, string where)
    {
        await page.AddScriptTagAsync(new PageAddScriptTagOptions { Path = ScriptPath });
        var violations = await page.EvaluateAsync<JsonElement>("""
            async () => {
                const result = await axe.run(document, { runOnly: ['color-contrast'], resultTypes: ['violations'] });
                return result.violations.flatMap(v => v.nodes.slice(0, 5).map(n => `${v.id}: ${n.target.join(' ')}: ${n.any.map(c => c.message).join(' ')}`));
            }
            """);
        return [.. violations.EnumerateArray().Select(v => $"{where}: {v.GetString()}")];
    }

    /// <summary>The page's violations, each as "where: rule (impact): help at selectors"; also counts its h1s.</summary>
    public static async Task<IReadOnlyList<string>> CheckAsync(IPage page, string where)
    {
        var problems = new List<string>();
        var h1 = await page.Locator("h1").CountAsync();
        if (h1 != 1)
        {
            problems.Add($"{where}: {h1} h1 elements, not one");
        }

        await page.AddScriptTagAsync(new PageAddScriptTagOptions { Path = ScriptPath });
        var violations = await page.EvaluateAsync<JsonElement>("""
            async () => {
                const result = await axe.run(document, { resultTypes: ['violations'] });
                return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
            }
            """);
        problems.AddRange(violations.EnumerateArray().Select(v => $"{where}: {v.GetString()}"));
        return problems;
    }
}
