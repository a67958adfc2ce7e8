using Newsletter.Web.Content;

namespace Newsletter.Tests.Content;

public class ReaderHtmlTests
{
    [Fact]
    public void EmailShowsTaskListsAsMarksBecauseMailClientsStripFormControls()
    {
        var html = "<ul class=\"contains-task-list\"><li class=\"task-list-item\"><input disabled=\"disabled\" type=\"checkbox\" checked=\"checked\"> Done</li>"
            + "<li class=\"task-list-item\"><input disabled=\"disabled\" type=\"checkbox\"> Not yet</li></ul>";

        var email = ReaderHtml.ForEmail(html);

        Assert.DoesNotContain("<input", email, StringComparison.Ordinal);
        Assert.Contains("☑ </span> Done", email, StringComparison.Ordinal);
        Assert.Contains("☐ </span> Not yet", email, StringComparison.Ordinal);
    }

    [Fact]
    public void EmailTablesGetBordersInlineAndABoxThatScrollsSoThePhoneWidthHolds()
    {
        // As the site's renderer makes it: a column's alignment is a class, which mail clients don't read.
        var html = new MarkdownRenderer().Render("| a | b | c |\n|---|---:|:---:|\n| 1 | 2 | 3 |\n").Html;

        var email = ReaderHtml.ForEmail(html);

        Assert.StartsWith("<div style=\"overflow-x:auto;max-width:100%;", email, StringComparison.Ordinal);
        Assert.Contains("<table style=\"border-collapse:collapse;", email, StringComparison.Ordinal);
        Assert.Contains("<td style=\"border:1px solid", email, StringComparison.Ordinal);
        // The author's alignment stays, inline: a, 1 left; b, 2 right; c, 3 centred.
        var cells = System.Text.RegularExpressions.Regex.Matches(email, "<t[hd][^>]*text-align:(\\w+);[^>]*>([abc123])<").Select(m => m.Groups[2].Value + m.Groups[1].Value);
        Assert.Equal(["aleft", "bright", "ccenter", "1left", "2right", "3center"], cells);
        Assert.Contains("background:#f4f1ea;font-weight:bold;", email, StringComparison.Ordinal);
        Assert.Equal("<p>No tables here.</p>", ReaderHtml.ForEmail("<p>No tables here.</p>"));
    }

    [Fact]
    public void RelativeLinksAndImagesBecomeAbsoluteAndOthersStay()
    {
        var html = "<a href=\"/notes/x\">x</a> <img src=\"/media/a.png\" alt=\"a\"> <a href=\"https://example.org/\">e</a> <a href=\"//cdn.example/y\">c</a> <a href=\"#fn:1\">1</a>";

        var result = ReaderHtml.Absolutize(html, path => "https://notes.example.org" + path);

        Assert.Contains("href=\"https://notes.example.org/notes/x\"", result, StringComparison.Ordinal);
        Assert.Contains("src=\"https://notes.example.org/media/a.png\"", result, StringComparison.Ordinal);
        Assert.Contains("href=\"https://example.org/\"", result, StringComparison.Ordinal);
        Assert.Contains("href=\"//cdn.example/y\"", result, StringComparison.Ordinal);
        Assert.Contains("href=\"#fn:1\"", result, StringComparison.Ordinal);
    }

    /// <summary>The site's focusable scroll boxes are the site's: an email has its own box, and no tab stops.</summary>
    [Fact]
    public void EmailTakesOutTheSitesFocusableScrollBoxes()
    {
        var html = new MarkdownRenderer().Render("| a |\n|---|\n| 1 |\n\n```\ncode\n```\n").Html;

        var email = ReaderHtml.ForEmail(html);

        Assert.DoesNotContain("tabindex", email, StringComparison.Ordinal);
        Assert.DoesNotContain("table-scroll", email, StringComparison.Ordinal);
        Assert.StartsWith("<div style=\"overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch;\"><table", email, StringComparison.Ordinal);
        Assert.Contains("<pre><code>code", email, StringComparison.Ordinal);
    }
}
