using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>The readers' emails as a real SMTP server (aiosmtpd) receives them: raw headers, both bodies, links that work.</summary>
public class SubscriberMailTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ReceivedMessage> WaitForAsync(SmtpServer smtp, string subjectPart)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var found = smtp.Messages().FirstOrDefault(m => m.Message.Subject?.Contains(subjectPart, StringComparison.OrdinalIgnoreCase) == true);
            if (found is not null)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"No message with '{subjectPart}' in its subject; the server has: {string.Join("; ", smtp.Messages().Select(m => m.Message.Subject))}");
            await Task.Delay(100, Ct);
        }
    }

    private static void AssertReaderHeaders(ReceivedMessage received, string to, bool reader = true)
    {
        var m = received.Message;
        var raw = File.ReadAllText(received.File);
        Assert.Equal(to, received.EnvelopeTo);
        Assert.Equal("notes@localhost", Assert.Single(m.From.Mailboxes).Address);
        Assert.Equal("Field Notes", m.From.Mailboxes.Single().Name);
        Assert.Matches(@"^[^@\s]+@[^@\s]+$", m.MessageId);
        Assert.Matches(@"(?m)^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", raw);
        Assert.True(DateTimeOffset.UtcNow - m.Date < TimeSpan.FromMinutes(5));
        if (reader)
        {
            var unsubscribe = m.Headers["List-Unsubscribe"];
            Assert.Matches(@"^<http://localhost/unsubscribe/[^>\s]+>, <mailto:notes@localhost\?subject=unsubscribe%20[^>\s]+>$", unsubscribe);
            Assert.Equal("List-Unsubscribe=One-Click", m.Headers["List-Unsubscribe-Post"]);
            Assert.Contains("<field-notes.localhost>", m.Headers["List-Id"], StringComparison.Ordinal);
        }
        else
        {
            // A pending address is not on any list yet: nothing to unsubscribe from, and no claim that it is.
            Assert.Null(m.Headers["List-Unsubscribe"]);
            Assert.Null(m.Headers["List-Unsubscribe-Post"]);
            Assert.Null(m.Headers["List-Id"]);
            Assert.DoesNotContain("on the list", m.TextBody + m.HtmlBody, StringComparison.Ordinal);
            Assert.DoesNotContain("/unsubscribe/", m.TextBody + m.HtmlBody, StringComparison.Ordinal);
        }

        // multipart/alternative: text first, HTML last, as clients expect.
        var parts = Assert.IsType<MultipartAlternative>(m.Body);
        Assert.Equal(["text/plain", "text/html"], parts.Select(p => p.ContentType.MimeType));
        Assert.False(string.IsNullOrWhiteSpace(m.TextBody));
        Assert.Contains("<html", m.HtmlBody, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task AConfirmationWithoutListHeadersAndAWelcomeWithThemArriveOverSmtpWithBothBodiesAndLinksThatWork()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(smtp.AppSettings);
        var reader = app.CreateBrowserClient();
        // A name with a line break: it must not become a header of its own.
        var subscribed = await reader.PostAsJsonAsync("/subscribe", new { email = "Ada.Lovelace+news@Example.org", name = "Ada\r\nBcc: everyone@example.org" }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, subscribed.StatusCode);

        var confirm = await WaitForAsync(smtp, "Confirm");
        AssertReaderHeaders(confirm, "Ada.Lovelace+news@example.org", reader: false);
        Assert.Empty(confirm.Message.Bcc);
        Assert.DoesNotMatch("(?mi)^Bcc:", File.ReadAllText(confirm.File));
        Assert.Single(confirm.Message.To.Mailboxes);

        // The same confirmation link in both bodies; following it shows a button, pressing it confirms.
        var link = Outbox.Link(confirm.Message, "/confirm/");
        Assert.Contains(WebUtility.HtmlEncode(link), confirm.Message.HtmlBody, StringComparison.Ordinal);
        var page = await reader.GetAsync(Outbox.PathOf(link), Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(SubscriberStatus.Pending, (await SubscribeTests.FindAsync(app, "ada.lovelace+news@example.org"))!.Status);
        Assert.Equal(HttpStatusCode.OK, (await Forms.PostAsync(reader, Outbox.PathOf(link), new Dictionary<string, string>())).StatusCode);
        Assert.Equal(SubscriberStatus.Active, (await SubscribeTests.FindAsync(app, "ada.lovelace+news@example.org"))!.Status);

        var welcome = await WaitForAsync(smtp, "Welcome");
        AssertReaderHeaders(welcome, "Ada.Lovelace+news@example.org");
        Assert.NotEqual(confirm.Message.MessageId, welcome.Message.MessageId);
        foreach (var path in new[] { "/preferences/", "/unsubscribe/", "/archive" })
        {
            var url = Outbox.Link(welcome.Message, path);
            Assert.StartsWith("http://localhost/", url, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync(Outbox.PathOf(url), Ct)).StatusCode);
        }

        // What a mailbox provider sends for the header (RFC 8058): a bare POST, no cookies, no token.
        var oneClick = Regex.Match(welcome.Message.Headers["List-Unsubscribe"] ?? "", "<(https?://[^>]+)>").Groups[1].Value;
        var provider = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false, AllowAutoRedirect = false });
        var left = await provider.PostAsync(Outbox.PathOf(oneClick), new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }), Ct);
        Assert.Equal(HttpStatusCode.OK, left.StatusCode);
        Assert.Equal(SubscriberStatus.Unsubscribed, (await SubscribeTests.FindAsync(app, "ada.lovelace+news@example.org"))!.Status);
    }

    [Fact]
    public async Task AConfirmationToAMailboxThatDoesNotExistMarksTheReaderBouncedAndIsNotRetried()
    {
        await using var smtp = await SmtpServer.StartAsync(new { reject = new[] { "typo@example.org" } });
        using var app = new NewsletterApp(smtp.AppSettings);
        await app.CreateClient().PostAsJsonAsync("/subscribe", new { email = "typo@example.org" }, Ct);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        Subscriber? s;
        while ((s = await SubscribeTests.FindAsync(app, "typo@example.org"))?.Status != SubscriberStatus.Bounced)
        {
            Assert.True(DateTime.UtcNow < deadline, "Not marked bounced. " + app.JobDiagnostics());
            await Task.Delay(100, Ct);
        }

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.True(await db.Suppressions.AnyAsync(x => x.EmailHash == app.AddressHash("typo@example.org") && x.Reason == SuppressionReason.HardBounce, Ct));
        var history = await db.SubscriberEvents.Where(e => e.SubscriberId == s.Id).Select(e => e.Kind).ToListAsync(Ct);
        Assert.Contains(SubscriberEventKind.Bounced, history);
        Assert.DoesNotContain(SubscriberEventKind.ConfirmationSent, history);
        // The job's own state commits after its body: wait for it to finish before asking whether it failed.
        await SubscribeTests.WaitForIdleJobsAsync(app);
        var monitor = app.Services.GetRequiredService<global::Hangfire.JobStorage>().GetMonitoringApi();
        Assert.Equal(0, monitor.ScheduledCount() + monitor.FailedCount());
        Assert.Single(monitor.SucceededJobs(0, 50), j => j.Value.Job?.Method.Name == nameof(SubscriberMailJob.SendPendingAsync));
    }

    [Fact]
    public async Task ATemporarySmtpRefusalFailsTheJobVisiblyAndKeepsItForARetry()
    {
        await using var smtp = await SmtpServer.StartAsync(new { defer_always = new[] { "later@example.org" } });
        using var app = new NewsletterApp(smtp.AppSettings);
        await app.CreateClient().PostAsJsonAsync("/subscribe", new { email = "later@example.org" }, Ct);
        var monitor = app.Services.GetRequiredService<global::Hangfire.JobStorage>().GetMonitoringApi();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (monitor.ScheduledCount() == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "No retry scheduled. " + app.JobDiagnostics());
            await Task.Delay(100, Ct);
        }

        var retry = monitor.ScheduledJobs(0, 10).Single().Key;
        var failure = monitor.JobDetails(retry).History.First(h => h.StateName == "Failed");
        Assert.Contains("451", failure.Data["ExceptionMessage"], StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Pending, (await SubscribeTests.FindAsync(app, "later@example.org"))!.Status);
    }

    [Theory]
    [InlineData("7.00:00:00", "7 days")]
    [InlineData("1.00:00:00", "1 day")]
    [InlineData("1.12:00:00", "2 days")]
    [InlineData("12:00:00", "12 hours")]
    [InlineData("01:00:00", "1 hour")]
    [InlineData("00:00:30", "1 minute")]
    public void TheConfirmationSaysHowLongItsLinkWorksInWords(string lifetime, string said) =>
        Assert.Equal(said, Web.Subscribers.SubscriberMailJob.Lifetime(TimeSpan.Parse(lifetime, System.Globalization.CultureInfo.InvariantCulture)));
}
