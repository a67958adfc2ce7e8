using System.Net;
using Newsletter.Testing;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

/// <summary>Unpublishing takes a note or an issue off every public surface at once, caches included.</summary>
public class UnpublishTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] Surfaces =
    [
        "/", "/notes", "/archive", "/tags", "/tags/vanishing", "/search?q=vanishing", "/sitemap.xml",
        "/feeds/notes.rss", "/feeds/notes.atom", "/feeds/notes.json", "/feeds/issues.rss", "/feeds/issues.atom", "/feeds/issues.json",
        "/feeds/tags/vanishing.rss", "/feeds/tags/vanishing.json",
    ];

    private static async Task<string> EverywhereAsync(HttpClient client)
    {
        var all = new List<string>();
        foreach (var url in Surfaces)
        {
            var response = await client.GetAsync(url, Ct);
            all.Add(await response.Content.ReadAsStringAsync(Ct));
        }

        return string.Join('\n', all);
    }

    [Fact]
    public async Task AnUnpublishedNoteLeavesPagesFeedsSearchAndSitemapAtOnce()
    {
        using var app = new NewsletterApp();
        app.WriteNote("keep.md", Note("Staying around", "staying", "2026-01-01", "vanishing, other", "Vanishing acts are rare."));
        app.WriteNote("go.md", Note("Vanishing note", "vanishing-note", "2026-01-02", "vanishing", "This vanishing note will go."));
        var client = app.CreateClient();
        var before = await EverywhereAsync(client);
        Assert.Contains("/notes/vanishing-note", before, StringComparison.Ordinal);

        app.WriteNote("go.md", Note("Vanishing note", "vanishing-note", "2026-01-02", "vanishing", "This vanishing note will go.", status: "draft"));
        await ImportNotesAsync(app);

        var after = await EverywhereAsync(client);
        Assert.DoesNotContain("vanishing-note", after, StringComparison.Ordinal);
        Assert.DoesNotContain("Vanishing note", after, StringComparison.Ordinal);
        Assert.Contains("/notes/staying", after, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/notes/vanishing-note", Ct)).StatusCode);
    }

    [Fact]
    public async Task ADeletedIssueLeavesPagesFeedsSearchAndSitemapAtOnceAndAnswers410()
    {
        using var app = new NewsletterApp();
        app.WriteNote("keep.md", Note("Staying around", "staying", "2026-01-01", "vanishing", "Vanishing acts are rare."));
        var issue = await AddIssueAsync(app, 1, "Vanishing issue", Utc(2026, 1, 3), tags: ["vanishing"], body: "This vanishing issue will go.");
        var client = app.CreateClient();
        var before = await EverywhereAsync(client);
        Assert.Contains("/issues/vanishing-issue", before, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/issues/vanishing-issue", Ct)).StatusCode);

        await UpdateIssueAsync(app, issue.Id, i => i.DeletedAt = DateTime.UtcNow);

        var after = await EverywhereAsync(client);
        Assert.DoesNotContain("vanishing-issue", after, StringComparison.Ordinal);
        Assert.DoesNotContain("Vanishing issue", after, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Gone, (await client.GetAsync("/issues/vanishing-issue", Ct)).StatusCode);
    }
}
