using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using Newsletter.Web.Tracking;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Tracking;

/// <summary>Optional link-click counting: what the emails carry, what a click stores, and what is never counted.</summary>
public class LinkClickTests
{
    private const string Browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    private const string Markdown =
        "Read [the WAL note](https://example.org/wal?a=1&b=2), then [the ledger](https://example.org/ledger).\n\n" +
        "Again: [the WAL note](https://example.org/wal?a=1&b=2). Write to [me](mailto:author@example.org).\n";

    private static Dictionary<string, string?> On => new() { ["Tracking:LinkClicks"] = "true" };

    private static async Task<int> AddIssueAsync(NewsletterApp app, string markdown = Markdown)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var issue = new Issue { Subject = "Which notes readers open", Slug = "which-notes-readers-open", Markdown = markdown, Status = IssueStatus.Draft };
        await scope.ServiceProvider.GetRequiredService<IssueComposer>().ComposeAsync(issue, Ct);
        db.Issues.Add(issue);
        await db.SaveChangesAsync(Ct);
        return issue.Id;
    }

    private static async Task<List<IssueLink>> LinksAsync(NewsletterApp app, int issueId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().IssueLinks.AsNoTracking().Where(l => l.IssueId == issueId).OrderBy(l => l.Number).ToListAsync(Ct);
    }

    /// <summary>Numbers the issue's links as a send's preparation does.</summary>
    private static async Task<PreparedIssue> PrepareForSendAsync(NewsletterApp app, int issueId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        return await sp.GetRequiredService<IssueMessages>().PrepareAsync(issueId, Ct, sp.GetRequiredService<LinkClicks>());
    }

    private static HttpClient Client(NewsletterApp app, string? userAgent = Browser)
    {
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        if (userAgent is not null)
        {
            client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", userAgent);
        }

        return client;
    }

    private static async Task<HttpClient> AuthorAsync(NewsletterApp app)
    {
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        await Forms.SetUpOwnerAsync(client);
        return client;
    }

    [Fact]
    public async Task WhenOffTheEmailsCarryTheLinksExactlyAsWrittenAndNothingIsStored()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 2);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var messages = await smtp.WaitForAsync(2);
        foreach (var m in messages.Select(r => r.Message))
        {
            Assert.Contains("href=\"https://example.org/wal?a=1&amp;b=2\"", m.HtmlBody, StringComparison.Ordinal);
            Assert.Contains("href=\"https://example.org/ledger\"", m.HtmlBody, StringComparison.Ordinal);
            Assert.DoesNotContain("/r/", m.HtmlBody + m.TextBody, StringComparison.Ordinal);
            Assert.Contains("https://example.org/wal?a=1&b=2", m.TextBody, StringComparison.Ordinal);
        }

        Assert.Empty(await LinksAsync(app, issueId));
        using var page = await Client(app).GetAsync($"/r/{issueId}/1", Ct);
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
    }

    [Fact]
    public async Task WhenOnEveryReaderGetsTheSameCountingLinksWhileTheirOwnLinksAndMailtoStay()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, On));
        await AddReadersAsync(app, 2);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var links = await LinksAsync(app, issueId);
        // The same address twice in the issue is one link with one number, numbered in the order of the text.
        Assert.Equal(["https://example.org/wal?a=1&b=2", "https://example.org/ledger"], links.Select(l => l.Url));
        Assert.Equal([1, 2], links.Select(l => l.Number));
        Assert.All(links, l => Assert.Equal(0, l.Clicks));

        var messages = (await smtp.WaitForAsync(2)).Select(r => r.Message).ToList();
        foreach (var m in messages)
        {
            Assert.Equal(2, CountOf(m.HtmlBody, $"href=\"http://localhost/r/{issueId}/1\""));
            Assert.Equal(1, CountOf(m.HtmlBody, $"href=\"http://localhost/r/{issueId}/2\""));
            Assert.DoesNotContain("example.org/wal", m.HtmlBody, StringComparison.Ordinal);
            Assert.Contains("href=\"mailto:author@example.org\"", m.HtmlBody, StringComparison.Ordinal);
            Assert.Contains($"http://localhost/r/{issueId}/1", m.TextBody, StringComparison.Ordinal);
            Assert.Contains("/unsubscribe/", m.HtmlBody, StringComparison.Ordinal);
            Assert.Contains("/preferences/", m.HtmlBody, StringComparison.Ordinal);
        }

        // Nothing per reader: apart from each reader's own unsubscribe and preferences links, name and address,
        // the counting links are the same bytes in both copies.
        Assert.NotEqual(Outbox.Link(messages[0], "/unsubscribe/"), Outbox.Link(messages[1], "/unsubscribe/"));
        Assert.Equal(Counting(messages[0].HtmlBody!), Counting(messages[1].HtmlBody!));
    }

    [Fact]
    public async Task AReadersClickIsCountedOnceAndLeadsToTheExactAddressWithoutACookie()
    {
        using var app = new NewsletterApp(On);
        var issueId = await AddIssueAsync(app);
        await PrepareForSendAsync(app, issueId);
        using var client = Client(app);

        using var response = await client.GetAsync($"/r/{issueId}/1", Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("https://example.org/wal?a=1&b=2", response.Headers.Location!.OriginalString);
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.True(response.Headers.CacheControl!.NoStore);
        var links = await LinksAsync(app, issueId);
        Assert.Equal([1L, 0L], links.Select(l => l.Clicks));
        Assert.NotNull(links[0].FirstClickAt);
        Assert.Equal(links[0].FirstClickAt, links[0].LastClickAt);

        // A double click is two opens; the first open's time stays.
        using var again = await client.GetAsync($"/r/{issueId}/1", Ct);
        Assert.Equal(HttpStatusCode.Redirect, again.StatusCode);
        var after = (await LinksAsync(app, issueId))[0];
        Assert.Equal(2, after.Clicks);
        Assert.Equal(links[0].FirstClickAt, after.FirstClickAt);
    }

    [Theory]
    [InlineData("Mozilla/5.0 (compatible; Barracuda Sentinel)", null)]
    [InlineData("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", null)]
    [InlineData("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)", null)]
    [InlineData("Mozilla/5.0 (Macintosh) Mimecast", null)]
    [InlineData(null, null)]
    [InlineData(Browser, "Sec-Purpose:prefetch")]
    [InlineData(Browser, "Purpose:prefetch")]
    [InlineData(Browser, "HEAD")]
    public async Task LinkCheckersPrefetchesAndHeadRequestsAreRedirectedButNotCounted(string? userAgent, string? extra)
    {
        using var app = new NewsletterApp(On);
        var issueId = await AddIssueAsync(app);
        await PrepareForSendAsync(app, issueId);
        using var client = Client(app, userAgent);
        using var request = new HttpRequestMessage(extra == "HEAD" ? HttpMethod.Head : HttpMethod.Get, $"/r/{issueId}/2");
        if (extra?.Split(':') is [var name, var value])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("https://example.org/ledger", response.Headers.Location!.OriginalString);
        Assert.All(await LinksAsync(app, issueId), l => Assert.Equal(0, l.Clicks));
    }

    [Theory]
    [InlineData("/r/{0}/3")] // no such link in the issue
    [InlineData("/r/{0}/0")]
    [InlineData("/r/{0}/-1")]
    [InlineData("/r/999/1")] // a forged issue id with a number that exists in another issue
    [InlineData("/r/{0}/1?url=https://evil.example")]
    public async Task OnlyAnAddressStoredForThatIssueIsEverRedirectedTo(string path)
    {
        using var app = new NewsletterApp(On);
        var issueId = await AddIssueAsync(app);
        await PrepareForSendAsync(app, issueId);
        using var client = Client(app);

        using var response = await client.GetAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, path, issueId), Ct);

        if (path.Contains("evil", StringComparison.Ordinal))
        {
            Assert.Equal("https://example.org/wal?a=1&b=2", response.Headers.Location!.OriginalString);
        }
        else
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Null(response.Headers.Location);
        }

        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task APreparationRunAgainAfterAResumeKeepsEveryLinksNumber()
    {
        using var app = new NewsletterApp(On);
        var issueId = await AddIssueAsync(app);
        var first = await PrepareForSendAsync(app, issueId);
        using (var client = Client(app))
        using (await client.GetAsync($"/r/{issueId}/2", Ct))
        {
        }

        var second = await PrepareForSendAsync(app, issueId);

        // Each preparation draws its own placeholders for the reader's parts; the rest is the same to the byte.
        static string Plain(PreparedIssue p, string s) => s.Replace(p.Markers.Unsubscribe, "[u]", StringComparison.Ordinal).Replace(p.Markers.Preferences, "[p]", StringComparison.Ordinal)
            .Replace(p.Markers.Name, "[n]", StringComparison.Ordinal).Replace(p.Markers.Email, "[e]", StringComparison.Ordinal);
        Assert.Equal(Plain(first, first.Html), Plain(second, second.Html));
        Assert.Equal(Plain(first, first.Text), Plain(second, second.Text));
        var links = await LinksAsync(app, issueId);
        Assert.Equal([(1, "https://example.org/wal?a=1&b=2", 0L), (2, "https://example.org/ledger", 1L)], links.Select(l => (l.Number, l.Url, l.Clicks)));
    }

    [Fact]
    public async Task PreviewsAndTestCopiesKeepTheLinksAsWritten()
    {
        using var app = new NewsletterApp(On);
        var issueId = await AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();

        var preview = await scope.ServiceProvider.GetRequiredService<IssueMessages>().PrepareAsync(issueId, Ct);

        Assert.Contains("href=\"https://example.org/ledger\"", preview.Html, StringComparison.Ordinal);
        Assert.Empty(await LinksAsync(app, issueId));
    }

    [Fact]
    public async Task TheDashboardAndTheProgressPageSayWhatIsStored()
    {
        using var app = new NewsletterApp(On);
        var issueId = await AddIssueAsync(app);
        await PrepareForSendAsync(app, issueId);
        using (var reader = Client(app))
        using (await reader.GetAsync($"/r/{issueId}/1", Ct))
        {
        }

        using var author = await AuthorAsync(app);
        var dashboard = await author.GetStringAsync("/admin", Ct);
        Assert.Contains("Privacy: link clicks", dashboard, StringComparison.Ordinal);
        Assert.Contains("data-field=\"link-clicks\">on<", dashboard, StringComparison.Ordinal);
        Assert.Contains("no reader, email address, IP address, user agent or cookie", dashboard, StringComparison.Ordinal);
        Assert.Contains("Tracking:LinkClicks", dashboard, StringComparison.Ordinal);

        var progress = await author.GetStringAsync($"/admin/issues/{issueId}/progress", Ct);
        Assert.Contains("Links readers opened", progress, StringComparison.Ordinal);
        Assert.Contains("https://example.org/wal?a=1&amp;b=2</a></td><td class=\"num\">1</td>", progress, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WhenOffTheProgressPageSaysLinksWereNotCounted()
    {
        using var app = new NewsletterApp();
        var issueId = await AddIssueAsync(app);
        using var author = await AuthorAsync(app);

        var progress = await author.GetStringAsync($"/admin/issues/{issueId}/progress", Ct);
        var dashboard = await author.GetStringAsync("/admin", Ct);

        Assert.Contains("Link clicks were not counted for this issue", progress, StringComparison.Ordinal);
        Assert.Contains("data-field=\"link-clicks\">off<", dashboard, StringComparison.Ordinal);
    }

    private static int CountOf(string? text, string part) => (text?.Length - (text?.Replace(part, "", StringComparison.Ordinal).Length) ?? 0) / part.Length;

    private static List<string> Counting(string html) =>
        [.. System.Text.RegularExpressions.Regex.Matches(html, "href=\"(http://localhost/r/[^\"]*)\"").Select(m => m.Groups[1].Value)];
}
