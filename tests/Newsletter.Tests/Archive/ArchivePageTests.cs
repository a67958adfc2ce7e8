using System.Net;
using AngleSharp.Html.Parser;
using Newsletter.Testing;
using Newsletter.Web.Issues;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

public class ArchivePageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheArchiveListsSentIssuesByYearWithNumberDateSubjectAndSummary()
    {
        using var app = new NewsletterApp();
        await AddIssueAsync(app, 1, "First light", Utc(2025, 11, 3));
        await AddIssueAsync(app, 2, "Second wind", Utc(2026, 2, 9));
        await AddIssueAsync(app, 3, "Third time", Utc(2026, 5, 4));

        var html = await app.CreateClient().GetStringAsync("/archive", Ct);
        var doc = new HtmlParser().ParseDocument(html);
        var years = doc.QuerySelectorAll(".archive-year-title").Select(h => h.TextContent).ToList();
        Assert.Equal(["2026", "2025"], years);
        var subjects = doc.QuerySelectorAll(".archive-entry .entry-title a").Select(a => a.TextContent).ToList();
        Assert.Equal(["Third time", "Second wind", "First light"], subjects);
        Assert.Equal("/issues/second-wind", doc.QuerySelectorAll(".archive-entry .entry-title a")[1].GetAttribute("href"));
        Assert.Contains("#2", html, StringComparison.Ordinal);
        Assert.Contains("9 February 2026", html, StringComparison.Ordinal);
        Assert.Contains("Summary of Second wind.", html, StringComparison.Ordinal);
        Assert.Single(doc.QuerySelectorAll("h1"));
        Assert.Contains("3 issues in all", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WebOnlyAndEmailOnlyIssuesAreMarkedAndDraftAndDeletedIssuesAreNotListed()
    {
        using var app = new NewsletterApp();
        await AddIssueAsync(app, 1, "On the web only", Utc(2026, 1, 5), configure: i => i.WebOnly = true);
        // As the sending engine leaves an email-only issue: no publication date, a start of sending.
        await AddIssueAsync(app, 2, "For the inbox only", Utc(2026, 1, 12), configure: i => { i.EmailOnly = true; i.PublishedAt = null; i.StartedAt = Utc(2026, 1, 12); });
        await AddIssueAsync(app, null, "Still a draft", Utc(2026, 1, 19), configure: i => { i.Status = IssueStatus.Draft; i.PublishedAt = null; });
        await AddIssueAsync(app, 3, "Deleted later", Utc(2026, 1, 26), configure: i => i.DeletedAt = DateTime.UtcNow);
        await AddIssueAsync(app, 4, "Going out now", Utc(2026, 2, 2), configure: i => i.Status = IssueStatus.Sending);

        var html = await app.CreateClient().GetStringAsync("/archive", Ct);
        var doc = new HtmlParser().ParseDocument(html);
        var entries = doc.QuerySelectorAll(".archive-entry");
        Assert.Equal(["Going out now", "For the inbox only", "On the web only"], entries.Select(e => e.QuerySelector(".entry-title")!.TextContent.Trim()));
        Assert.NotNull(entries[2].QuerySelector(".mark-web-only"));
        Assert.Null(entries[0].QuerySelector(".mark-web-only"));

        // Listed, marked, and not linked: it has no web version, and its summary stays in the inbox.
        Assert.NotNull(entries[1].QuerySelector(".mark-email-only"));
        Assert.Null(entries[1].QuerySelector("a"));
        Assert.DoesNotContain("Summary of For the inbox only", html, StringComparison.Ordinal);
        Assert.Contains("#2", entries[1].TextContent, StringComparison.Ordinal);
        Assert.Contains("3 issues in all", html, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await app.CreateClient().GetAsync("/issues/for-the-inbox-only", Ct)).StatusCode);
    }

    [Fact]
    public async Task TheArchiveIsPagedAndAPagePastTheEndIs404()
    {
        using var app = new NewsletterApp(new() { ["Archive:PageSize"] = "2" });
        for (var i = 1; i <= 5; i++)
        {
            await AddIssueAsync(app, i, $"Issue number {i}", Utc(2026, 3, i));
        }

        var client = app.CreateClient();
        var page1 = await client.GetStringAsync("/archive", Ct);
        Assert.Contains("Issue number 5", page1, StringComparison.Ordinal);
        Assert.DoesNotContain("Issue number 3", page1, StringComparison.Ordinal);
        Assert.Contains("Page 1 of 3", page1, StringComparison.Ordinal);
        Assert.Contains("href=\"/archive?page=2\"", page1, StringComparison.Ordinal);
        var page3 = await client.GetStringAsync("/archive?page=3", Ct);
        Assert.Contains("Issue number 1", page3, StringComparison.Ordinal);
        Assert.Contains("<link rel=\"canonical\" href=\"http://localhost/archive?page=3\">", page3, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/archive?page=4", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/archive?page=0", Ct)).StatusCode);
    }

    [Fact]
    public async Task AnEmptyArchiveSaysTheFirstIssueIsComing()
    {
        using var app = new NewsletterApp();
        var html = await app.CreateClient().GetStringAsync("/archive", Ct);
        Assert.Contains("The first issue is on its way", html, StringComparison.Ordinal);
    }
}
