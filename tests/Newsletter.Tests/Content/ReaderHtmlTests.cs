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
        var html = "<table><thead><tr><th>a</th><th style=\"text-align: right;\">b</th></tr></thead><tbody><tr><td>1</td><td style=\"text-align: right;\">2</td></tr></tbody></table>";

        var email = ReaderHtml.ForEmail(html);

        Assert.StartsWith("<div style=\"overflow-x:auto;max-width:100%;", email, StringComparison.Ordinal);
        Assert.Contains("<table style=\"border-collapse:collapse;", email, StringComparison.Ordinal);
        Assert.Contains("<td style=\"border:1px solid", email, StringComparison.Ordinal);
        Assert.Contains("text-align: right;", email, StringComparison.Ordinal); // the author's alignment stays
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
}
