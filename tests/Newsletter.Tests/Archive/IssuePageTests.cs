using System.Net;
using System.Text.Json;
using AngleSharp.Html.Parser;
using Newsletter.Testing;
using Newsletter.Web.Issues;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

public class IssuePageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnIssuePageShowsTheWebVersionWithNavigationNotesTagsReadingTimeAndSubscribe()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", Note("The ledger note", "ledger-note", "2026-01-02", "sending"));
        app.WriteNote("b.md", Note("A draft note", "draft-note", "2026-01-03", "sending", status: "draft"));
        await AddIssueAsync(app, 1, "Older issue", Utc(2026, 1, 1));
        var words = string.Join(' ', Enumerable.Repeat("word", 700));
        await AddIssueAsync(app, 2, "The middle issue", Utc(2026, 1, 8), tags: ["sending", "sqlite"], body: words, noteSlugs: ["ledger-note", "draft-note"]);
        await AddIssueAsync(app, 3, "Newer issue", Utc(2026, 1, 15));
        await AddIssueAsync(app, 4, "Email only, in between", Utc(2026, 1, 10), configure: i => i.EmailOnly = true);

        var html = await app.CreateClient().GetStringAsync("/issues/the-middle-issue", Ct);
        var doc = new HtmlParser().ParseDocument(html);
        Assert.Equal("The middle issue", doc.QuerySelector("h1")!.TextContent);
        Assert.Single(doc.QuerySelectorAll("h1"));
        Assert.Contains("Issue #2", html, StringComparison.Ordinal);
        Assert.Contains("3 min read", html, StringComparison.Ordinal);
        Assert.Contains("<p>word word", html, StringComparison.Ordinal);
        Assert.Equal("/issues/newer-issue", doc.QuerySelector(".post-nav a[rel=next]")!.GetAttribute("href"));
        Assert.Equal("/issues/older-issue", doc.QuerySelector(".post-nav a[rel=prev]")!.GetAttribute("href"));
        var notes = doc.QuerySelectorAll(".included-notes a").Select(a => a.GetAttribute("href")).ToList();
        Assert.Equal(["/notes/ledger-note"], notes);
        Assert.Equal(["/tags/sending", "/tags/sqlite"], doc.QuerySelectorAll(".tags a").Select(a => a.GetAttribute("href")));
        Assert.NotNull(doc.QuerySelector("form.subscribe-form input[type=email]"));
    }

    [Fact]
    public async Task AnIssuePageCarriesCanonicalOpenGraphTwitterAndArticleJsonLd()
    {
        using var app = new NewsletterApp();
        await AddIssueAsync(app, 7, "Backpressure, explained", Utc(2026, 4, 1), tags: ["queues"]);
        var html = await app.CreateClient().GetStringAsync("/issues/backpressure-explained", Ct);
        var doc = new HtmlParser().ParseDocument(html);
        Assert.Equal("http://localhost/issues/backpressure-explained", doc.QuerySelector("link[rel=canonical]")!.GetAttribute("href"));
        Assert.Equal("article", doc.QuerySelector("meta[property='og:type']")!.GetAttribute("content"));
        Assert.Equal("Backpressure, explained", doc.QuerySelector("meta[property='og:title']")!.GetAttribute("content"));
        Assert.Equal("Summary of Backpressure, explained.", doc.QuerySelector("meta[name=description]")!.GetAttribute("content"));
        Assert.NotNull(doc.QuerySelector("meta[name='twitter:card']"));
        using var ld = JsonDocument.Parse(doc.QuerySelector("script[type='application/ld+json']")!.TextContent);
        Assert.Equal("Article", ld.RootElement.GetProperty("@type").GetString());
        Assert.Equal("Backpressure, explained", ld.RootElement.GetProperty("headline").GetString());
        Assert.Equal("2026-04-01T09:00:00Z", ld.RootElement.GetProperty("datePublished").GetString());
        Assert.Equal("http://localhost/issues/backpressure-explained", ld.RootElement.GetProperty("url").GetString());
    }

    [Fact]
    public async Task AnIssuePagesJsonLdNeverSaysItWasModifiedBeforeItWasPublished()
    {
        using var app = new NewsletterApp();
        // As a send leaves it: the last edit at 09:05:13, the send (and the web version) at 09:05:32.
        var published = new DateTime(2026, 4, 1, 9, 5, 32, DateTimeKind.Utc);
        await AddIssueAsync(app, 7, "Saved then sent", published, configure: i => i.UpdatedAt = published.AddSeconds(-19));
        await AddIssueAsync(app, 8, "Edited after sending", published.AddDays(1), configure: i => i.UpdatedAt = published.AddDays(2));
        var client = app.CreateClient();

        async Task<(string Published, string Modified)> DatesAsync(string path)
        {
            var doc = new HtmlParser().ParseDocument(await client.GetStringAsync(path, Ct));
            using var ld = JsonDocument.Parse(doc.QuerySelector("script[type='application/ld+json']")!.TextContent);
            return (ld.RootElement.GetProperty("datePublished").GetString()!, ld.RootElement.GetProperty("dateModified").GetString()!);
        }

        Assert.Equal(("2026-04-01T09:05:32Z", "2026-04-01T09:05:32Z"), await DatesAsync("/issues/saved-then-sent"));
        // An edit after the send is a real change, and says so.
        Assert.Equal(("2026-04-02T09:05:32Z", "2026-04-03T09:05:32Z"), await DatesAsync("/issues/edited-after-sending"));
    }

    [Theory]
    [InlineData("/issues/no-such-issue", HttpStatusCode.NotFound)]
    [InlineData("/issues/a-draft", HttpStatusCode.NotFound)]
    [InlineData("/issues/email-only", HttpStatusCode.NotFound)]
    [InlineData("/issues/scheduled", HttpStatusCode.NotFound)]
    [InlineData("/issues/deleted-draft", HttpStatusCode.NotFound)]
    [InlineData("/issues/deleted-after-sending", HttpStatusCode.Gone)]
    public async Task UnknownAndHiddenIssuesAre404AndDeletedPublicIssuesAre410(string url, HttpStatusCode expected)
    {
        using var app = new NewsletterApp();
        await AddIssueAsync(app, null, "A draft", Utc(2026, 1, 1), configure: i => { i.Status = IssueStatus.Draft; i.PublishedAt = null; });
        await AddIssueAsync(app, 1, "Email only", Utc(2026, 1, 2), configure: i => i.EmailOnly = true);
        await AddIssueAsync(app, null, "Scheduled", Utc(2026, 1, 3), configure: i => { i.Status = IssueStatus.Scheduled; i.PublishedAt = null; });
        await AddIssueAsync(app, null, "Deleted draft", Utc(2026, 1, 4), configure: i => { i.Status = IssueStatus.Draft; i.PublishedAt = null; i.DeletedAt = DateTime.UtcNow; });
        await AddIssueAsync(app, 2, "Deleted after sending", Utc(2026, 1, 5), configure: i => i.DeletedAt = DateTime.UtcNow);

        var response = await app.CreateClient().GetAsync(url, Ct);
        Assert.Equal(expected, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains(expected == HttpStatusCode.Gone ? "This page is gone" : "Page not found", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADeletedNoteAnswers410()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", Note("Short lived", "short-lived", "2026-01-02", "x"));
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/notes/short-lived", Ct)).StatusCode);
        File.Delete(Path.Combine(app.NotesFolder, "a.md"));
        await ImportNotesAsync(app);
        Assert.Equal(HttpStatusCode.Gone, (await client.GetAsync("/notes/short-lived", Ct)).StatusCode);
    }
}
