using System.Net;
using System.Xml.Linq;
using Newsletter.Testing;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

public class SitemapTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly XNamespace Ns = "http://www.sitemaps.org/schemas/sitemap/0.9";

    [Fact]
    public async Task TheSitemapListsEveryPublicPageWithAbsoluteUrlsAndNothingHidden()
    {
        using var app = new NewsletterApp(sampleNotes: true);
        app.WriteNote("z.md", Note("Hidden draft", "hidden-draft", "2026-03-06", "secret-tag", status: "draft"));
        await AddIssueAsync(app, 1, "Public issue", Utc(2026, 3, 2), tags: ["issue-tag"]);
        await AddIssueAsync(app, 2, "Email only", Utc(2026, 3, 3), tags: ["email-tag"], configure: i => i.EmailOnly = true);
        await AddIssueAsync(app, 3, "Deleted", Utc(2026, 3, 4), configure: i => i.DeletedAt = DateTime.UtcNow);

        var response = await app.CreateClient().GetAsync("/sitemap.xml", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/xml", response.Content.Headers.ContentType!.MediaType);
        var xml = XDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(Ns + "urlset", xml.Root!.Name);
        var locs = xml.Root.Elements(Ns + "url").Select(u => u.Element(Ns + "loc")!.Value).ToList();
        Assert.All(locs, l => Assert.StartsWith("http://localhost/", l, StringComparison.Ordinal));
        Assert.Equal(locs.Count, locs.Distinct().Count());
        foreach (var expected in new[] { "/", "/notes", "/archive", "/tags", "/about", "/issues/public-issue", "/tags/issue-tag", "/notes/exactly-once-is-a-ledger", "/tags/reliability" })
        {
            Assert.Contains("http://localhost" + expected, locs);
        }

        foreach (var hidden in new[] { "/notes/hidden-draft", "/tags/secret-tag", "/issues/email-only", "/tags/email-tag", "/issues/deleted", "/notes/about" })
        {
            Assert.DoesNotContain("http://localhost" + hidden, locs);
        }

        var issue = xml.Root.Elements(Ns + "url").Single(u => u.Element(Ns + "loc")!.Value.EndsWith("/issues/public-issue", StringComparison.Ordinal));
        Assert.Equal("2026-03-02T09:00:00Z", issue.Element(Ns + "lastmod")!.Value);
    }

    [Fact]
    public async Task RobotsTxtPointsAtTheSitemapAndKeepsCrawlersOutOfTheAdmin()
    {
        using var app = new NewsletterApp();
        var robots = await app.CreateClient().GetStringAsync("/robots.txt", Ct);
        Assert.Contains("User-agent: *", robots, StringComparison.Ordinal);
        Assert.Contains("Disallow: /admin/", robots, StringComparison.Ordinal);
        Assert.Contains("Sitemap: http://localhost/sitemap.xml", robots, StringComparison.Ordinal);
    }

    /// <summary>A &lt;loc&gt; is a URL, and crawlers reject one with raw non-ASCII characters in it.</summary>
    [Fact]
    public async Task TheSitemapPercentEncodesTagsAndSlugs()
    {
        using var app = new NewsletterApp();
        app.WriteNote("u.md", Note("Umlauts", "umlauts", "2026-03-06", "ärger"));

        var xml = XDocument.Parse(await app.CreateClient().GetStringAsync("/sitemap.xml", Ct));

        var locs = xml.Root!.Elements(Ns + "url").Select(u => u.Element(Ns + "loc")!.Value).ToList();
        Assert.Contains("http://localhost/tags/%C3%A4rger", locs);
        Assert.DoesNotContain(locs, l => l.Contains('ä', StringComparison.Ordinal));
    }
}
