using System.Net;
using Newsletter.Testing;

namespace Newsletter.Tests.Site;

public class PublicSiteTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheShippedSampleNotesAndBioAreOnTheSite()
    {
        using var app = new NewsletterApp(sampleNotes: true);
        var client = app.CreateClient();
        var home = await client.GetStringAsync("/", Ct);
        Assert.Contains("Latest notes", home, StringComparison.Ordinal);
        var shipped = Directory.GetFiles(Path.Combine(RepoPaths.Root, "notes"), "*.md");
        Assert.InRange(shipped.Length, 6, 9);
        var notes = await client.GetStringAsync("/notes", Ct);
        Assert.True(notes.Split("class=\"entry\"").Length - 1 >= 5, "the notes page should list the published sample notes");
        var about = await client.GetStringAsync("/about", Ct);
        Assert.Contains("Timeline", about, StringComparison.Ordinal);
        Assert.Contains("Principles", about, StringComparison.Ordinal);
        Assert.Contains("About the newsletter", about, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryPublicPageHasTitleDescriptionCanonicalAndOpenGraph()
    {
        using var app = new NewsletterApp(sampleNotes: true);
        var client = app.CreateClient();
        foreach (var url in new[] { "/", "/notes", "/about", "/tags" })
        {
            var html = await client.GetStringAsync(url, Ct);
            Assert.Contains("<title>", html, StringComparison.Ordinal);
            Assert.Contains("<meta name=\"description\" content=\"", html, StringComparison.Ordinal);
            Assert.Contains("<link rel=\"canonical\" href=\"http://localhost", html, StringComparison.Ordinal);
            Assert.Contains("<meta property=\"og:title\"", html, StringComparison.Ordinal);
            Assert.Equal(1, html.Split("<h1").Length - 1);
        }
    }

    [Fact]
    public async Task ANotePageCarriesArticleJsonLd()
    {
        using var app = new NewsletterApp();
        app.WriteNote("n.md", "---\ntitle: Ledger\nslug: ledger\ndate: 2026-03-03\ntags: [sending]\n---\nText");
        var html = await app.CreateClient().GetStringAsync("/notes/ledger", Ct);
        Assert.Contains("application/ld+json", html, StringComparison.Ordinal);
        Assert.Contains("\"BlogPosting\"", html, StringComparison.Ordinal);
        Assert.Contains("<a href=\"/tags/sending\" rel=\"tag\">", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/notes/no-such-note")]
    [InlineData("/notes/..%2F..%2Fetc%2Fpasswd")]
    [InlineData("/tags/no-such-tag")]
    [InlineData("/definitely/not/here")]
    [InlineData("/notes?page=999")]
    // The error page's own address with a code that is no error: nothing is there, not "Something went wrong".
    [InlineData("/error/0")]
    [InlineData("/error/200")]
    [InlineData("/error/399")]
    [InlineData("/error/999")]
    [InlineData("/error")]
    public async Task UnknownAddressesAnswer404WithAFriendlyPage(string url)
    {
        using var app = new NewsletterApp();
        var response = await app.CreateClient().GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("Page not found", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DraftNotesAreNotPublic()
    {
        using var app = new NewsletterApp();
        app.WriteNote("d.md", "---\ntitle: Secret draft\nslug: secret-draft\nstatus: draft\n---\nNot yet");
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/notes/secret-draft", Ct)).StatusCode);
        Assert.DoesNotContain("Secret draft", await client.GetStringAsync("/notes", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotesArePagedAndFilteredByTag()
    {
        using var app = new NewsletterApp(new() { ["Site:PageSize"] = "2" });
        for (var i = 1; i <= 5; i++)
        {
            var tag = i % 2 == 0 ? "even" : "odd";
            app.WriteNote($"n{i}.md", $"---\ntitle: Note number {i}\nslug: note-{i}\ndate: 2026-01-0{i}\ntags: [{tag}]\n---\nBody {i}");
        }

        var client = app.CreateClient();
        var page1 = await client.GetStringAsync("/notes", Ct);
        Assert.Contains("Note number 5", page1, StringComparison.Ordinal);
        Assert.Contains("Note number 4", page1, StringComparison.Ordinal);
        Assert.DoesNotContain("Note number 3", page1, StringComparison.Ordinal);
        Assert.Contains("Page 1 of 3", page1, StringComparison.Ordinal);
        var page3 = await client.GetStringAsync("/notes?page=3", Ct);
        Assert.Contains("Note number 1", page3, StringComparison.Ordinal);
        var even = await client.GetStringAsync("/tags/even", Ct);
        Assert.Contains("Note number 2", even, StringComparison.Ordinal);
        Assert.DoesNotContain("Note number 3", even, StringComparison.Ordinal);
        var filtered = await client.GetStringAsync("/notes?tag=odd", Ct);
        Assert.Contains("Note number 3", filtered, StringComparison.Ordinal);
        Assert.DoesNotContain("Note number 4", filtered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResponsesCarrySecurityHeadersWithAStrictCsp()
    {
        using var app = new NewsletterApp();
        var response = await app.CreateClient().GetAsync("/", Ct);
        var csp = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.True(response.Headers.Contains("Referrer-Policy"));
    }

    [Fact]
    public async Task StaticAssetsAreServed()
    {
        using var app = new NewsletterApp();
        var response = await app.CreateClient().GetAsync("/css/site.css", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("--accent", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }
}
