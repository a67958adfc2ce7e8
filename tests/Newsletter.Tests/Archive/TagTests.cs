using AngleSharp.Html.Parser;
using Newsletter.Testing;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

public class TagTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TagsCountNotesAndIssuesTogether()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", Note("Note one", "note-one", "2026-01-01", "sqlite, queues"));
        app.WriteNote("b.md", Note("Draft", "draft", "2026-01-02", "sqlite", status: "draft"));
        await AddIssueAsync(app, 1, "Issue one", Utc(2026, 1, 5), tags: ["sqlite", "issues-only"]);
        await AddIssueAsync(app, 2, "Hidden", Utc(2026, 1, 6), tags: ["sqlite", "hidden-only"], configure: i => i.EmailOnly = true);

        var doc = new HtmlParser().ParseDocument(await app.CreateClient().GetStringAsync("/tags", Ct));
        var tags = doc.QuerySelectorAll(".tag-cloud a").ToDictionary(a => a.GetAttribute("href")!, a => a.QuerySelector(".count")!.TextContent);
        Assert.Equal("2", tags["/tags/sqlite"]);
        Assert.Equal("1", tags["/tags/queues"]);
        Assert.Equal("1", tags["/tags/issues-only"]);
        Assert.False(tags.ContainsKey("/tags/hidden-only"));
    }

    [Fact]
    public async Task ATagPageShowsItsIssuesAndItsNotes()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", Note("Note one", "note-one", "2026-01-01", "sqlite"));
        await AddIssueAsync(app, 1, "Issue one", Utc(2026, 1, 5), tags: ["sqlite"], configure: i => i.WebOnly = true);
        await AddIssueAsync(app, 2, "Only issues here", Utc(2026, 1, 6), tags: ["issues-only"]);
        var client = app.CreateClient();

        var html = await client.GetStringAsync("/tags/sqlite", Ct);
        var doc = new HtmlParser().ParseDocument(html);
        Assert.Equal("/issues/issue-one", doc.QuerySelector(".archive-entry .entry-title a")!.GetAttribute("href"));
        Assert.NotNull(doc.QuerySelector(".archive-entry .mark-web-only"));
        Assert.Equal("/notes/note-one", doc.QuerySelector(".entry-list .entry-title a")!.GetAttribute("href"));
        Assert.Contains("1 note and 1 issue tagged #sqlite", html, StringComparison.Ordinal);
        Assert.Contains("Only issues here", await client.GetStringAsync("/tags/issues-only", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMixedCaseTagPageRedirectsToTheLowerCaseOneEvenOnceThatIsCached()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", Note("Note one", "note-one", "2026-01-01", "sqlite"));
        var client = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        foreach (var (lower, mixed) in new[] { ("/tags/sqlite", "/tags/SQLite"), ("/feeds/tags/sqlite.rss", "/feeds/tags/SQLite.rss") })
        {
            // Twice: the first answer is rendered and kept, the second comes from the caches.
            Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync(lower, Ct)).StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync(lower, Ct)).StatusCode);

            // A cache that matched paths without case answered the lower-case page here, with a 200.
            for (var i = 0; i < 2; i++)
            {
                var answer = await client.GetAsync(mixed, Ct);
                Assert.Equal(System.Net.HttpStatusCode.MovedPermanently, answer.StatusCode);
                Assert.Equal(lower, answer.Headers.Location?.OriginalString);
            }
        }
    }
}
