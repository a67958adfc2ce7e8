using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;

namespace Newsletter.Tests.Issues;

/// <summary>Preflight finds, before a send, the links that can't work from a reader's inbox and says why.</summary>
public class PreflightTests
{
    private const string Site = "https://news.example.org";
    private const string Footer = "<a href=\"https://news.example.org/unsubscribe/x\">Unsubscribe</a>";

    private static IReadOnlyList<string> Check(string body, string baseUrl = Site, IReadOnlyList<RemovedLink>? removed = null) =>
        Preflight.Check(body + Footer, "text https://news.example.org/unsubscribe/x", new HashSet<string>(StringComparer.Ordinal), baseUrl, removed);

    [Theory]
    [InlineData("http://localhost:5000/notes/x", "your own computer")]
    [InlineData("http://app.localhost/x", "your own computer")]
    [InlineData("http://127.0.0.1/x", "your own computer")]
    [InlineData("http://127.8.9.10:8080/x", "your own computer")]
    [InlineData("http://[::1]:5000/x", "your own computer")]
    [InlineData("http://10.0.0.5/x", "private network")]
    [InlineData("http://172.16.0.1/x", "private network")]
    [InlineData("http://172.31.255.254/x", "private network")]
    [InlineData("https://192.168.1.20/x", "private network")]
    [InlineData("http://169.254.169.254/latest", "link-local")]
    [InlineData("http://[fd12:3456::1]/x", "private network")]
    [InlineData("http://[fc00::1]/x", "private network")]
    [InlineData("http://[fe80::1]/x", "link-local")]
    [InlineData("http://[::ffff:192.168.0.1]/x", "private network")]
    [InlineData("http://printer.local/x", "“.local”")]
    [InlineData("https://wiki.corp.internal/x", "“.internal”")]
    [InlineData("https://site.test/x", "“.test”")]
    [InlineData("https://nothing.invalid/x", "“.invalid”")]
    [InlineData("http://intranet/x", "without a domain")]
    public void ALinkThatOnlyWorksOnTheAuthorsMachineOrNetworkIsFound(string href, string why)
    {
        var warning = Assert.Single(Check($"<p><a href=\"{href}\">the draft</a></p>"));
        Assert.Contains("“the draft”", warning, StringComparison.Ordinal);
        Assert.Contains(href, warning, StringComparison.Ordinal);
        Assert.Contains(why, warning, StringComparison.Ordinal);
        Assert.Contains("can't open it from their inbox", warning, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://sqlite.org/wal.html")]
    [InlineData("http://172.32.0.1/x")]
    [InlineData("http://11.0.0.1/x")]
    [InlineData("https://[2001:db8::1]/x")]
    [InlineData("https://example.local.org/x")]
    [InlineData("mailto:me@example.org")]
    public void APublicLinkIsFine(string href)
    {
        Assert.Empty(Check($"<p><a href=\"{href}\">there</a></p>"));
    }

    [Theory]
    [InlineData("[the archive](ftp://files.example.org/archive)", "ftp://files.example.org/archive")]
    [InlineData("[click](javascript:alert(1))", "javascript:alert(1)")]
    [InlineData("<a href=\"data:text/html,hi\">click</a>", "data:text/html,hi")]
    public void ALinkTheSanitiserRemovedIsNamedWithItsAddressNotAsHavingNone(string markdown, string address)
    {
        var renderer = new MarkdownRenderer();
        var removed = MarkdownRenderer.RemovedLinks(markdown);
        var warning = Assert.Single(Check(renderer.Render(markdown).Html, removed: removed));
        Assert.Contains(address, warning, StringComparison.Ordinal);
        Assert.Contains("was removed", warning, StringComparison.Ordinal);
        Assert.Contains("only http, https and mailto links are kept", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("no address", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void ALinkWrittenWithoutAnAddressStillSaysSo()
    {
        Assert.Contains("has no address", Assert.Single(Check("<p><a>nowhere</a></p>", removed: [])), StringComparison.Ordinal);
    }

    [Fact]
    public void AnImageWhoseAddressWasRemovedIsNamed()
    {
        var removed = MarkdownRenderer.RemovedLinks("![a chart](ftp://files.example.org/chart.png)");
        var image = Assert.Single(removed);
        Assert.True(image.Image);
        Assert.Contains(Check("<p>text</p>", removed: removed), w => w.Contains("The image “a chart” from ftp://files.example.org/chart.png was removed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://localhost:5000")]
    [InlineData("http://192.168.1.2:8080")]
    [InlineData("https://newsletter")]
    public void ABaseUrlReadersCantReachIsAWarning(string baseUrl)
    {
        var warnings = Preflight.Check($"<a href=\"{baseUrl}/notes/x\">x</a><a href=\"{baseUrl}/unsubscribe/t\">u</a>", $"{baseUrl}/unsubscribe/t", new HashSet<string>(["/notes/x"], StringComparer.Ordinal), baseUrl);
        // One warning about the setting, not one for every link that uses it.
        var warning = Assert.Single(warnings);
        Assert.Contains($"Site:BaseUrl is {baseUrl}, which readers can't reach", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void APlainHttpBaseUrlIsAWarning()
    {
        var warning = Assert.Single(Check("<p>text</p>".Replace("https://news", "http://news", StringComparison.Ordinal), baseUrl: "http://news.example.org"));
        Assert.Contains("plain http", warning, StringComparison.Ordinal);
        Assert.Contains("https://", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePreviewOfAnIssueAndItsNotesNamesRemovedAndPrivateLinks()
    {
        using var app = new NewsletterApp(new() { ["Site:BaseUrl"] = "https://news.example.org" });
        int id;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var renderer = scope.ServiceProvider.GetRequiredService<MarkdownRenderer>();
            const string noteMarkdown = "Files are on [the old server](ftp://files.example.org/pub).";
            var note = new Newsletter.Web.Notes.Note { Slug = "old-files", Title = "Old files", Markdown = noteMarkdown, Html = renderer.Render(noteMarkdown).Html, Status = Newsletter.Web.Notes.NoteStatus.Published, Date = DateTime.UtcNow };
            db.Notes.Add(note);
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
            var issue = new Issue { Subject = "Links", Slug = "links", Markdown = "See [my draft](http://localhost:5000/notes/draft).", Status = IssueStatus.Draft };
            issue.Notes.Add(new IssueNote { NoteId = note.Id, Position = 0 });
            await scope.ServiceProvider.GetRequiredService<IssueComposer>().ComposeAsync(issue, TestContext.Current.CancellationToken);
            db.Issues.Add(issue);
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
            id = issue.Id;
        }

        await using var read = app.Services.CreateAsyncScope();
        var preview = await read.ServiceProvider.GetRequiredService<IssuePreviews>().BuildAsync(id, "author@example.org", TestContext.Current.CancellationToken);
        Assert.NotNull(preview);
        Assert.Equal(2, preview.Warnings.Count);
        Assert.Contains(preview.Warnings, w => w.Contains("“my draft” points to http://localhost:5000/notes/draft, an address of your own computer", StringComparison.Ordinal));
        Assert.Contains(preview.Warnings, w => w.Contains("“the old server” to ftp://files.example.org/pub was removed", StringComparison.Ordinal));
    }
}
