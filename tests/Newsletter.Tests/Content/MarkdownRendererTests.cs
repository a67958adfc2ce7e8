using Newsletter.Testing;
using Newsletter.Web.Content;

namespace Newsletter.Tests.Content;

public class MarkdownRendererTests
{
    private readonly MarkdownRenderer _renderer = new();

    public static TheoryData<string> GoldenCases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(GoldenFolder, "*.md").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(file));
        }

        return data;
    }

    private static string GoldenFolder => Path.Combine(RepoPaths.Root, "tests", "Newsletter.Tests", "Content", "Golden");

    /// <summary>
    /// Each Golden/NAME.md must render to exactly Golden/NAME.html. To accept a deliberate change, run the
    /// tests with UPDATE_GOLDEN=1 and review the diff of the .html files.
    /// </summary>
    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void RendersMarkdownExactlyAsTheGoldenFile(string name)
    {
        var markdown = File.ReadAllText(Path.Combine(GoldenFolder, name + ".md"));
        var actual = _renderer.Render(markdown).Html.Replace("\r\n", "\n", StringComparison.Ordinal);
        var goldenPath = Path.Combine(GoldenFolder, name + ".html");
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(goldenPath, actual);
        }

        Assert.True(File.Exists(goldenPath), $"{goldenPath} is missing; run with UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(goldenPath), actual);
    }

    [Theory]
    [InlineData("<script>alert(1)</script>")]
    [InlineData("<img src=x onerror=alert(1)>")]
    [InlineData("[click](javascript:alert(1))")]
    [InlineData("[click](JaVaScRiPt:alert(1))")]
    [InlineData("[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)")]
    [InlineData("<a href=\"javascript&colon;alert(1)\">x</a>")]
    [InlineData("<iframe src=\"https://evil.example\"></iframe>")]
    [InlineData("<svg><script>alert(1)</script></svg>")]
    [InlineData("<div style=\"background:url(javascript:alert(1))\">x</div>")]
    [InlineData("<form action=\"https://evil.example\"><input name=password></form>")]
    [InlineData("![x](javascript:alert(1))")]
    [InlineData("<object data=\"evil.swf\"></object>")]
    public void HostileMarkdownNeverProducesScriptHandlersOrDangerousUrls(string markdown)
    {
        var html = _renderer.Render(markdown).Html.ToLowerInvariant();
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("javascript:", html);
        Assert.DoesNotContain("data:text", html);
        Assert.DoesNotContain("onerror", html);
        Assert.DoesNotContain("<iframe", html);
        Assert.DoesNotContain("<object", html);
        Assert.DoesNotContain("<form", html);
        Assert.DoesNotContain("style=", html);
        Assert.DoesNotContain("name=\"password\"", html);
    }

    [Fact]
    public void CodeBlocksKeepTheirTextButRenderNoMarkup()
    {
        var html = _renderer.Render("```html\n<script>alert('x')</script>\n```").Html;
        Assert.Contains("&lt;script&gt;", html);
        Assert.DoesNotContain("<script>", html);
    }

    [Fact]
    public void TaskListsRenderAsDisabledCheckboxes()
    {
        var html = _renderer.Render("- [x] done\n- [ ] open").Html;
        Assert.Equal(2, html.Split("type=\"checkbox\"").Length - 1);
        Assert.Equal(2, html.Split("disabled=\"disabled\"").Length - 1);
    }

    [Fact]
    public void PlainTextHasNoMarkup()
    {
        var text = _renderer.Render("# Title\n\nSome **bold** and [a link](https://example.org).").PlainText;
        Assert.Contains("Some bold and a link", text);
        Assert.DoesNotContain("**", text);
        Assert.DoesNotContain("<", text);
    }

    /// <summary>A screen reader announced "checkbox, checked" with no words: each task's checkbox is named by its task.</summary>
    [Fact]
    public void ATaskListsCheckboxIsNamedByItsTask()
    {
        var html = _renderer.Render("- [x] done\n- [ ] write the *tests*\n  - [ ] nested").Html;
        var document = new AngleSharp.Html.Parser.HtmlParser().ParseDocument("<body>" + html + "</body>");
        var names = document.QuerySelectorAll("input[type=checkbox]").Select(i => i.GetAttribute("aria-label")).ToList();
        Assert.Equal(["done", "write the tests", "nested"], names);
    }

    /// <summary>
    /// A wide table or code block scrolls inside its own box, and a keyboard can only scroll a box that takes focus
    /// (axe: scrollable-region-focusable). Sanitising the result again (an issue holds its notes' HTML) keeps it as it is.
    /// </summary>
    [Fact]
    public void TablesAndCodeBlocksScrollInBoxesAKeyboardCanFocus()
    {
        var html = _renderer.Render("| a | b |\n|---|---|\n| 1 | 2 |\n\n```\n+----+----+\n| id | ms |\n```\n").Html;
        Assert.Contains("<div class=\"table-scroll\" tabindex=\"0\" role=\"region\" aria-label=\"Table\"><table>", html, StringComparison.Ordinal);
        Assert.Contains("<pre tabindex=\"0\"><code>", html, StringComparison.Ordinal);
        Assert.Equal(html, _renderer.Sanitize(html));
        // Landmarks need names of their own: two tables (as when an issue includes two notes) are told apart.
        var two = _renderer.Sanitize(html + html);
        Assert.Contains("aria-label=\"Table 1\"><table>", two, StringComparison.Ordinal);
        Assert.Contains("aria-label=\"Table 2\"><table>", two, StringComparison.Ordinal);
    }
}
