using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Sending;

/// <summary>What a reader's text part and an author's test copies carry, received by a real SMTP server.</summary>
public class TestCopyAndTextTests
{
    private static async Task<int> AddIssueAsync(NewsletterApp app, string markdown)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var issue = new Issue { Subject = "Links that survive plain text", Slug = "links-that-survive-plain-text", Markdown = markdown, Status = IssueStatus.Draft };
        await scope.ServiceProvider.GetRequiredService<IssueComposer>().ComposeAsync(issue, Ct);
        db.Issues.Add(issue);
        await db.SaveChangesAsync(Ct);
        return issue.Id;
    }

    private static async Task SendTestAsync(NewsletterApp app, int issueId, params string[] addresses)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<TestSendJob>().SendAsync(issueId, addresses, Ct);
    }

    [Fact]
    public async Task ASentIssuesTextPartHasParagraphsAndListsItsLinksUnderTheText()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 1);
        var issueId = await AddIssueAsync(app,
            "In the [SQLite note](/notes/sqlite) I wrote that [WAL](https://sqlite.org/wal.html) helps.\n\n" +
            "Second paragraph.[^1]\n\n| Setting | Value |\n|--|--|\n| busy_timeout | 10000 |\n\n[^1]: A footnote.");
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var text = Assert.Single(smtp.Messages()).Message.TextBody!.Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.Contains("In the SQLite note [1] I wrote that WAL [2] helps.\n\nSecond paragraph.[^1]\n\n", text, StringComparison.Ordinal);
        Assert.Contains("Setting       Value\n------------  -----\nbusy_timeout  10000\n", text, StringComparison.Ordinal);
        Assert.Contains("[^1]: A footnote.\n", text, StringComparison.Ordinal);
        Assert.Contains("[1] http://localhost/notes/sqlite\n[2] https://sqlite.org/wal.html\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("↩", text, StringComparison.Ordinal);
        // The footer (with the reader's own unsubscribe link) still follows the text.
        Assert.True(text.IndexOf("/unsubscribe/", StringComparison.Ordinal) > text.IndexOf("[2] https://sqlite.org", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EveryTestCopyHasAMessageIdOfItsOwnWhileAReadersStaysStable()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        var issueId = await AddIssueAsync(app, "Hello.");
        await SendTestAsync(app, issueId, "author@example.org", "editor@example.org");
        await SendTestAsync(app, issueId, "author@example.org");

        var ids = smtp.Messages().Select(m => m.Message.MessageId).ToList();
        Assert.Equal(3, ids.Count);
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches($"^test-{issueId}\\.[0-9a-f]{{24}}@", id));
        var messageIds = app.Services.GetRequiredService<MessageIds>();
        Assert.All(ids, id => Assert.False(messageIds.TryRead(id, out _, out _)));
        // A reader's copy keeps one id however often it is built: a resend after a crash folds into the first.
        Assert.Equal(messageIds.For(issueId, 7, "example.org"), messageIds.For(issueId, 7, "example.org"));
    }

    [Fact]
    public async Task ATestCopysUnsubscribeAndPreferencesLinksSayItWasATestAndChangeNothing()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 3);
        var issueId = await AddIssueAsync(app, "Hello.");
        await SendTestAsync(app, issueId, "author@example.org");
        var copy = Assert.Single(smtp.Messages()).Message;
        var header = copy.Headers["List-Unsubscribe"]!;
        var unsubscribe = Outbox.PathOf(header[1..header.IndexOf('>', StringComparison.Ordinal)]);
        var client = app.CreateClient();

        // RFC 8058: the mail client POSTs List-Unsubscribe=One-Click from its own servers.
        var oneClick = await client.PostAsync(unsubscribe, new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }), Ct);
        Assert.Equal(HttpStatusCode.OK, oneClick.StatusCode);
        Assert.Contains("This was a test email", await oneClick.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var get = await client.GetAsync(unsubscribe, Ct);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        var page = await get.Content.ReadAsStringAsync(Ct);
        Assert.Contains("Nobody was unsubscribed", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<form", page, StringComparison.Ordinal);

        var footer = Outbox.PathOf(Outbox.Link(copy, "/unsubscribe/"));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(footer, new FormUrlEncodedContent([]), Ct)).StatusCode);
        var preferences = await client.GetAsync(Outbox.PathOf(Outbox.Link(copy, "/preferences/")), Ct);
        Assert.Equal(HttpStatusCode.OK, preferences.StatusCode);
        Assert.Contains("This was a test email", await preferences.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(3, await db.Subscribers.CountAsync(s => s.Status == SubscriberStatus.Active, Ct));
        Assert.Equal(0, await db.SubscriberEvents.CountAsync(e => e.Kind == SubscriberEventKind.Unsubscribed, Ct));
    }
}
