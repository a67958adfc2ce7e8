using System.Net;
using System.ServiceModel.Syndication;
using System.Text.Json;
using System.Xml;
using AngleSharp.Html.Parser;
using Newsletter.Testing;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

public class FeedTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<NewsletterApp> AppWithContentAsync()
    {
        var app = new NewsletterApp();
        app.WriteNote("a.md", Note("A note on queues", "queues-note", "2026-03-01", "queues, sqlite", "Queues & *backpressure*."));
        app.WriteNote("b.md", Note("A note on sqlite", "sqlite-note", "2026-03-05", "sqlite"));
        app.WriteNote("c.md", Note("A draft", "draft-note", "2026-03-06", "sqlite", status: "draft"));
        await AddIssueAsync(app, 1, "Issue one", Utc(2026, 3, 2), tags: ["sqlite"]);
        await AddIssueAsync(app, 2, "Issue two", Utc(2026, 3, 9));
        await AddIssueAsync(app, 3, "Issue by email only", Utc(2026, 3, 10), tags: ["sqlite"], configure: i => i.EmailOnly = true);
        return app;
    }

    public static TheoryData<string, string, string[]> AllFeeds => new()
    {
        { "/feeds/notes", "notes", ["/notes/sqlite-note", "/notes/queues-note"] },
        { "/feeds/issues", "issues", ["/issues/issue-two", "/issues/issue-one"] },
        { "/feeds/tags/sqlite", "#sqlite", ["/notes/sqlite-note", "/issues/issue-one", "/notes/queues-note"] },
    };

    [Theory]
    [MemberData(nameof(AllFeeds))]
    public async Task RssAndAtomFeedsParseWithAbsoluteLinksDatesAndContent(string path, string titlePart, string[] expected)
    {
        using var app = await AppWithContentAsync();
        var client = app.CreateClient();
        foreach (var (ext, mediaType) in new[] { ("rss", "application/rss+xml"), ("atom", "application/atom+xml") })
        {
            var response = await client.GetAsync($"{path}.{ext}", Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(mediaType, response.Content.Headers.ContentType!.MediaType);
            using var reader = XmlReader.Create(await response.Content.ReadAsStreamAsync(Ct));
            var feed = SyndicationFeed.Load(reader);
            Assert.Contains(titlePart, feed.Title.Text, StringComparison.Ordinal);
            Assert.NotEmpty(feed.Description?.Text ?? feed.Title.Text);
            Assert.Contains(feed.Links, l => l.Uri.IsAbsoluteUri && l.RelationshipType is null or "alternate");
            Assert.Contains(feed.Links, l => l.RelationshipType == "self" && l.Uri.ToString() == $"http://localhost{path}.{ext}");
            var items = feed.Items.ToList();
            Assert.Equal(expected.Select(e => "http://localhost" + e), items.Select(i => i.Links.Single().Uri.ToString()));
            foreach (var item in items)
            {
                Assert.True(item.Links[0].Uri.IsAbsoluteUri);
                Assert.False(string.IsNullOrWhiteSpace(item.Title.Text));
                Assert.False(string.IsNullOrWhiteSpace(item.Id));
                Assert.Equal(2026, item.PublishDate.Year);
                Assert.NotEmpty(((TextSyndicationContent)item.Summary).Text);
            }

            if (ext == "atom")
            {
                Assert.Equal($"http://localhost{path}.atom", feed.Id);
                Assert.True(feed.LastUpdatedTime.Year >= 2026);
                Assert.Equal("Maren Ostrowski", Assert.Single(feed.Authors).Name);
                Assert.All(items, i => Assert.Contains("<p>", ((TextSyndicationContent)i.Content).Text, StringComparison.Ordinal));
                Assert.All(items, i => Assert.True(i.LastUpdatedTime.Year >= 2026));
            }
            else
            {
                Assert.All(items, i =>
                {
                    var encoded = i.ElementExtensions.Single(x => x.OuterName == "encoded" && x.OuterNamespace == "http://purl.org/rss/1.0/modules/content/");
                    using var content = encoded.GetReader();
                    Assert.Contains("<p>", content.ReadElementContentAsString(), StringComparison.Ordinal);
                });
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllFeeds))]
    public async Task JsonFeedsFollowVersion11WithAbsoluteUrlsAndRfc3339Dates(string path, string titlePart, string[] expected)
    {
        using var app = await AppWithContentAsync();
        var response = await app.CreateClient().GetAsync($"{path}.json", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/feed+json", response.Content.Headers.ContentType!.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var root = json.RootElement;
        Assert.Equal("https://jsonfeed.org/version/1.1", root.GetProperty("version").GetString());
        Assert.Contains(titlePart, root.GetProperty("title").GetString(), StringComparison.Ordinal);
        Assert.Equal($"http://localhost{path}.json", root.GetProperty("feed_url").GetString());
        Assert.True(Uri.TryCreate(root.GetProperty("home_page_url").GetString(), UriKind.Absolute, out _));
        Assert.Equal("Maren Ostrowski", root.GetProperty("authors")[0].GetProperty("name").GetString());
        var items = root.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(expected.Select(e => "http://localhost" + e), items.Select(i => i.GetProperty("url").GetString()));
        foreach (var item in items)
        {
            Assert.False(string.IsNullOrEmpty(item.GetProperty("id").GetString()));
            Assert.Contains("<p>", item.GetProperty("content_html").GetString(), StringComparison.Ordinal);
            var published = item.GetProperty("date_published").GetString()!;
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", published);
            Assert.True(DateTimeOffset.TryParse(published, out var parsed) && parsed.Year == 2026);
            Assert.Equal(JsonValueKind.Array, item.GetProperty("tags").ValueKind);
        }
    }

    [Theory]
    [InlineData("/feeds/notes.xml")]
    [InlineData("/feeds/everything.rss")]
    [InlineData("/feeds/tags/no-such-tag.rss")]
    [InlineData("/feeds/tags/unused.json")]
    public async Task UnknownFeedsAre404(string url)
    {
        using var app = await AppWithContentAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await app.CreateClient().GetAsync(url, Ct)).StatusCode);
    }

    [Fact]
    public async Task FeedContentLinksAreAbsoluteInEveryFormat()
    {
        using var app = new NewsletterApp();
        app.WriteNote("r.md", Note("Relative links", "relative-note", "2026-03-01", "links", "See [the other note](/notes/sqlite-note) and ![a chart](/media/chart.png)."));
        var client = app.CreateClient();
        foreach (var feed in new[] { "/feeds/notes.rss", "/feeds/notes.atom", "/feeds/notes.json" })
        {
            var body = await client.GetStringAsync(feed, Ct);
            Assert.Contains("http://localhost/notes/sqlite-note", body, StringComparison.Ordinal);
            Assert.Contains("http://localhost/media/chart.png", body, StringComparison.Ordinal);
            Assert.DoesNotContain("href=\\\"/notes/", body, StringComparison.Ordinal);
            Assert.DoesNotContain("href=&quot;/notes/", body, StringComparison.Ordinal);
            Assert.DoesNotContain("href=\"/notes/", body, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// RSS readers read an item's description as HTML: a plain summary mentioning `<table>` or "<3" put there as it
    /// stands was swallowed or turned into markup. It is HTML-encoded for RSS; Atom's summary says type="text".
    /// </summary>
    [Fact]
    public async Task ASummaryWithAngleBracketsReadsAsTextInRssAndAtom()
    {
        using var app = new NewsletterApp();
        app.WriteNote("t.md", "---\ntitle: Tables\nslug: tables-note\ndate: 2026-03-01\nstatus: published\nsummary: \"Use <table> for tabular data & <3 things, not <img src=x onerror=alert(1)>.\"\n---\nBody.\n");
        var client = app.CreateClient();
        var rss = System.Xml.Linq.XDocument.Parse(await client.GetStringAsync("/feeds/notes.rss", Ct));
        var description = rss.Descendants("item").Single(i => i.Element("title")!.Value == "Tables").Element("description")!.Value;
        // What an RSS reader shows once it reads the description as HTML: the text as written.
        Assert.Contains("Use &lt;table&gt; for tabular data &amp; &lt;3 things", description, StringComparison.Ordinal);
        Assert.DoesNotContain("<img", description, StringComparison.Ordinal);
        using var atom = XmlReader.Create(await client.GetStreamAsync("/feeds/notes.atom", Ct));
        var summary = ((TextSyndicationContent)SyndicationFeed.Load(atom).Items.Single(i => i.Title.Text == "Tables").Summary).Text;
        Assert.Contains("Use <table> for tabular data & <3 things", summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptySiteStillServesValidFeeds()
    {
        using var app = new NewsletterApp();
        var client = app.CreateClient();
        using var reader = XmlReader.Create(await client.GetStreamAsync("/feeds/issues.atom", Ct));
        Assert.Empty(SyndicationFeed.Load(reader).Items);
        using var json = JsonDocument.Parse(await client.GetStringAsync("/feeds/notes.json", Ct));
        Assert.Equal(0, json.RootElement.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task EveryPublicPageAdvertisesTheFeedsAndTagPagesTheirOwn()
    {
        using var app = await AppWithContentAsync();
        var client = app.CreateClient();
        foreach (var url in new[] { "/", "/notes", "/archive", "/issues/issue-one", "/notes/queues-note", "/tags", "/search" })
        {
            var doc = new HtmlParser().ParseDocument(await client.GetStringAsync(url, Ct));
            var feeds = doc.QuerySelectorAll("link[rel=alternate]").Select(l => l.GetAttribute("href")).ToList();
            foreach (var expected in new[] { "/feeds/issues.rss", "/feeds/issues.atom", "/feeds/issues.json", "/feeds/notes.rss", "/feeds/notes.atom", "/feeds/notes.json" })
            {
                Assert.Contains(expected, feeds);
            }

            foreach (var href in feeds)
            {
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(href, Ct)).StatusCode);
            }
        }

        var tag = new HtmlParser().ParseDocument(await client.GetStringAsync("/tags/sqlite", Ct));
        var tagFeeds = tag.QuerySelectorAll("link[rel=alternate]").Select(l => l.GetAttribute("href")).ToList();
        Assert.Contains("/feeds/tags/sqlite.rss", tagFeeds);
        Assert.Contains("/feeds/tags/sqlite.atom", tagFeeds);
        Assert.Contains("/feeds/tags/sqlite.json", tagFeeds);
    }

    /// <summary>
    /// A feed reader shows many entries on one page, each with its own fn:1: a footnote's #fn:1 leads to the footnote
    /// on the entry's own page, in every format.
    /// </summary>
    [Fact]
    public async Task AFootnoteLinkInAFeedLeadsToTheEntrysPage()
    {
        using var app = new NewsletterApp();
        app.WriteNote("f.md", Note("Footnoted", "footnoted", "2026-03-01", "sqlite", "A claim.[^1]\n\n[^1]: The source."));
        var client = app.CreateClient();
        foreach (var feed in new[] { "/feeds/notes.rss", "/feeds/notes.atom", "/feeds/notes.json" })
        {
            var raw = await client.GetStringAsync(feed, Ct);
            // RSS and Atom carry the HTML escaped as text; JSON Feed as a string.
            var body = feed.EndsWith(".json", StringComparison.Ordinal)
                ? JsonDocument.Parse(raw).RootElement.GetProperty("items")[0].GetProperty("content_html").GetString()!
                : WebUtility.HtmlDecode(raw);

            Assert.Contains("href=\"http://localhost/notes/footnoted#fn:1\"", body, StringComparison.Ordinal);
            Assert.Contains("href=\"http://localhost/notes/footnoted#fnref:1\"", body, StringComparison.Ordinal);
            Assert.DoesNotContain("href=\"#", body, StringComparison.Ordinal);
        }
    }
}
