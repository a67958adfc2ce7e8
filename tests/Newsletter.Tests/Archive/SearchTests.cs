using System.Net;
using AngleSharp.Html.Parser;
using Newsletter.Testing;
using Newsletter.Web.Archive;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

public class SearchTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<NewsletterApp> AppWithContentAsync()
    {
        var app = new NewsletterApp();
        app.WriteNote("ledger.md", Note("Exactly once is a ledger", "ledger", "2026-02-01", "sending", "A delivery ledger keeps one row per recipient, so a crash never loses a send."));
        app.WriteNote("tail.md", Note("Measuring tail latency", "tail", "2026-02-02", "performance", "The p99 hides behind averages; coordinated omission makes it worse."));
        app.WriteNote("draft.md", Note("Unfinished ledger thoughts", "unfinished", "2026-02-03", "sending", "A secret ledger draft.", status: "draft"));
        app.WriteNote("cafe.md", Note("Café notes", "cafe", "2026-02-04", "misc", "Über-careful naïve coöperation in a café."));
        await AddIssueAsync(app, 1, "The ledger issue", Utc(2026, 2, 10), tags: ["sending"], body: "This issue explains the ledger and the bounded duplicate window.");
        await AddIssueAsync(app, 2, "Inbox only ledger", Utc(2026, 2, 11), body: "Private ledger talk for subscribers.", configure: i => i.EmailOnly = true);
        await AddIssueAsync(app, 3, "Markup <b>in</b> the text", Utc(2026, 2, 12), body: "A ledger with <script>alert(1)</script> in its plain text.");
        return app;
    }

    [Fact]
    public async Task SearchFindsPublicNotesAndIssuesWithHighlightedSnippets()
    {
        using var app = await AppWithContentAsync();
        var html = await app.CreateClient().GetStringAsync("/search?q=ledger", Ct);
        var doc = new HtmlParser().ParseDocument(html);
        var links = doc.QuerySelectorAll(".search-results .entry-title a").Select(a => a.GetAttribute("href")).ToList();
        Assert.Contains("/notes/ledger", links);
        Assert.Contains("/issues/the-ledger-issue", links);
        Assert.DoesNotContain("/notes/unfinished", links);
        Assert.DoesNotContain("/issues/inbox-only-ledger", links);
        Assert.Contains("<mark>ledger</mark>", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("3 results for", html, StringComparison.Ordinal);
        Assert.Contains("Issue #1", html, StringComparison.Ordinal);
        Assert.Contains("<meta name=\"robots\" content=\"noindex\">", html, StringComparison.Ordinal);
        Assert.Equal("Search notes and issues", doc.QuerySelector("label[for=search-q]")!.TextContent);
    }

    [Fact]
    public async Task ThePublishedBioIsFoundByItsBodyAndItsFrontMatterAndLinksToAbout()
    {
        using var app = new NewsletterApp();
        app.WriteNote("about.md", """
            ---
            kind: bio
            title: About
            slug: me
            name: "Ada Example"
            headline: "I write about **sending** mail."
            timeline:
              - { title: "Storage engineer", org: "Quarkwidget Systems", period: "2015–2020" }
            ---
            Before this I kept a lighthouse.
            """);
        var client = app.CreateClient();

        foreach (var q in new[] { "lighthouse", "Quarkwidget" })
        {
            var doc = new HtmlParser().ParseDocument(await client.GetStringAsync("/search?q=" + q, Ct));
            var link = Assert.Single(doc.QuerySelectorAll("main a[href='/about']"));
            Assert.Contains("About", link.TextContent, StringComparison.Ordinal);
            Assert.Contains(q, doc.QuerySelector("main mark")!.TextContent, StringComparison.OrdinalIgnoreCase);
        }

        // Markdown marks in the front matter are not words: the snippet shows the text, not the asterisks.
        var headline = await client.GetStringAsync("/search?q=sending", Ct);
        Assert.DoesNotContain("**", headline, StringComparison.Ordinal);

        // A bio taken back to draft leaves search with the page.
        app.WriteNote("about.md", "---\nkind: bio\ntitle: About\nstatus: draft\n---\nBefore this I kept a lighthouse.\n");
        await ArchiveData.ImportNotesAsync(app);
        Assert.Empty(new HtmlParser().ParseDocument(await client.GetStringAsync("/search?q=lighthouse", Ct)).QuerySelectorAll("main a[href='/about']"));
    }

    [Fact]
    public async Task SnippetsAreHtmlEncodedSoContentCannotInjectMarkup()
    {
        using var app = await AppWithContentAsync();
        var html = await app.CreateClient().GetStringAsync("/search?q=alert", Ct);
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;<mark>alert</mark>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>in</b>", await app.CreateClient().GetStringAsync("/search?q=markup", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchMatchesPhrasesPrefixesStemsTagsAndAccentsWithoutThem()
    {
        using var app = await AppWithContentAsync();
        var client = app.CreateClient();
        async Task<List<string?>> Hits(string q)
        {
            var doc = new HtmlParser().ParseDocument(await client.GetStringAsync("/search?q=" + Uri.EscapeDataString(q), Ct));
            return [.. doc.QuerySelectorAll(".search-results .entry-title a").Select(a => a.GetAttribute("href"))];
        }

        Assert.Equal(["/notes/ledger"], await Hits("\"delivery ledger\""));
        Assert.Empty(await Hits("\"ledger delivery\""));
        Assert.Equal(["/notes/tail"], await Hits("omiss"));
        Assert.Equal(["/notes/tail"], await Hits("averages coordinated"));
        Assert.Equal(["/notes/tail"], await Hits("average"));
        Assert.Contains("/notes/tail", await Hits("performance"));
        Assert.Equal(["/notes/cafe"], await Hits("cafe naive"));
        Assert.Equal(["/notes/cafe"], await Hits("CAFÉ"));
    }

    [Theory]
    [InlineData("\"")]
    [InlineData("\"\"")]
    [InlineData("\"unbalanced ledger")]
    [InlineData("ledger AND")]
    [InlineData("OR")]
    [InlineData("NOT ledger")]
    [InlineData("NEAR(ledger crash, 2)")]
    [InlineData("ledger*")]
    [InlineData("*")]
    [InlineData("^ledger")]
    [InlineData("title:ledger")]
    [InlineData("ledger) OR (1=1")]
    [InlineData("'; DROP TABLE Notes; --")]
    [InlineData("-ledger")]
    [InlineData("+++")]
    [InlineData("{ledger}")]
    [InlineData("🙂 ledger 🙂")]
    [InlineData("日本語の検索")]
    [InlineData("\u0000\u0001\u0002")]
    [InlineData("%")]
    [InlineData("   ")]
    [InlineData("")]
    public async Task HostileAndOddQueriesGetAPageNeverAnError(string q)
    {
        using var app = await AppWithContentAsync();
        var response = await app.CreateClient().GetAsync("/search?q=" + Uri.EscapeDataString(q), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("<h1>Search</h1>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OperatorsAreSearchedAsWordsNotObeyed()
    {
        using var app = await AppWithContentAsync();
        var html = await app.CreateClient().GetStringAsync("/search?q=" + Uri.EscapeDataString("ledger OR tail"), Ct);
        // As an operator, OR would have found the tail-latency note; as a word it matches nothing.
        Assert.Contains("Nothing matched", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AThousandCharacterQueryIsShortenedAndSaysSo()
    {
        using var app = await AppWithContentAsync();
        var q = "ledger " + new string('x', 993);
        Assert.Equal(1000, q.Length);
        var html = await app.CreateClient().GetStringAsync("/search?q=" + Uri.EscapeDataString(q), Ct);
        Assert.Contains("Your search was long", html, StringComparison.Ordinal);
        var many = string.Join(' ', Enumerable.Range(0, 40).Select(i => "ledger"));
        var html2 = await app.CreateClient().GetStringAsync("/search?q=" + Uri.EscapeDataString(many), Ct);
        Assert.Contains("Your search was long", html2, StringComparison.Ordinal);
        Assert.Contains("/notes/ledger", html2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmptyAndPunctuationOnlyQueriesExplainThemselves()
    {
        using var app = await AppWithContentAsync();
        var client = app.CreateClient();
        Assert.Contains("Type a word or two", await client.GetStringAsync("/search", Ct), StringComparison.Ordinal);
        Assert.Contains("There is nothing to search for", await client.GetStringAsync("/search?q=%2A%2A%2A", Ct), StringComparison.Ordinal);
        Assert.Contains("Nothing matched", await client.GetStringAsync("/search?q=zebra", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchResultsArePaged()
    {
        using var app = new NewsletterApp(new() { ["Archive:SearchPageSize"] = "2" });
        for (var i = 1; i <= 5; i++)
        {
            await AddIssueAsync(app, i, $"Ledger part {i}", Utc(2026, 3, i));
        }

        var client = app.CreateClient();
        var page1 = await client.GetStringAsync("/search?q=ledger", Ct);
        Assert.Contains("5 results", page1, StringComparison.Ordinal);
        Assert.Contains("href=\"/search?q=ledger&amp;page=2\"", page1, StringComparison.Ordinal);
        var page3 = await client.GetStringAsync("/search?q=ledger&page=3", Ct);
        Assert.Equal(1, page3.Split("class=\"entry-title\"").Length - 1);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/search?q=ledger&page=9", Ct)).StatusCode);
    }

    [Theory]
    [InlineData("ledger", "\"ledger\" *")]
    [InlineData("a \"b c\"", "\"a\" \"b c\"")]
    [InlineData("say \"hi", "\"say\" \"hi\" *")]
    [InlineData("x OR y", "\"x\" \"OR\" \"y\" *")]
    [InlineData("end-", "\"end-\"")]
    public void QueriesBecomeQuotedFtsStrings(string input, string fts) => Assert.Equal(fts, SearchQuery.Parse(input)!.Fts);
}
