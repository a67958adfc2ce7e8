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

public partial class SendingTests
{
    [Fact]
    public async Task EveryActiveReaderGetsTheIssueExactlyOnceWithListHeadersAndWorkingLinks()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 40);
        await AddReadersAsync(app, 3, SubscriberStatus.Pending, "pending");
        await AddReadersAsync(app, 2, SubscriberStatus.Unsubscribed, "gone");
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        var issue = await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var received = smtp.Messages();
        Assert.Equal(40, received.Count);
        Assert.Equal(40, received.Select(r => r.EnvelopeTo).Distinct().Count());
        Assert.All(received, r => Assert.StartsWith("reader", r.EnvelopeTo, StringComparison.Ordinal));
        Assert.Equal(40, issue.RecipientCount);
        Assert.Equal(1, issue.Number);

        var m = received[0].Message;
        Assert.Matches($@"^issue-{issueId}\.[0-9a-f]{{32}}@", m.MessageId);
        Assert.Equal("List-Unsubscribe=One-Click", m.Headers["List-Unsubscribe-Post"]);
        Assert.Matches("<http://localhost/unsubscribe/[^>]+>, <mailto:", m.Headers["List-Unsubscribe"] ?? "");
        Assert.Contains("<", m.Headers["List-Id"], StringComparison.Ordinal);
        Assert.Equal("bulk", m.Headers["Precedence"]);
        Assert.NotEqual(default, m.Date);
        Assert.Contains("<strong>readers</strong>", m.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("Hello readers.", m.TextBody, StringComparison.Ordinal);
        Assert.Contains("/unsubscribe/", m.TextBody, StringComparison.Ordinal);

        // The personal unsubscribe link in the body works for that reader.
        var to = received[5].EnvelopeTo;
        var client = app.CreateBrowserClient();
        var path = Outbox.PathOf(Outbox.Link(received[5].Message, "/unsubscribe/"));
        var response = await client.PostAsync(path, new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SubscriberStatus.Unsubscribed, (await Subscribers.SubscribeTests.FindAsync(app, to))!.Status);

        var ledger = await DeliveriesAsync(app, issueId);
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));
        Assert.DoesNotContain(ledger, d => d.Uncertain);

        // The author can download who got what: one line per reader, with the server's code and the time.
        await Forms.SetUpOwnerAsync(client);
        var csv = (await client.GetStringAsync($"/admin/api/issues/{issueId}/deliveries.csv", Ct)).Trim().Split('\n');
        Assert.Equal("email,status,attempts,smtp_code,sent_at,uncertain,last_error", csv[0]);
        Assert.Equal(40, csv.Length - 1);
        Assert.All(csv.Skip(1), line => Assert.Matches(@"^reader\d{4}@example\.org,sent,1,250,\d{4}-\d\d-\d\dT[\d:.]+Z,,$", line));
    }

    [Fact]
    public async Task ATemporaryFailureIsRetriedUntilSentAndNobodyGetsTwoCopies()
    {
        await using var smtp = await SmtpServer.StartAsync(new { defer_first_percent = 10 });
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 120);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var received = smtp.Messages();
        Assert.Equal(120, received.Count);
        Assert.Equal(120, received.Select(r => r.EnvelopeTo).Distinct().Count());
        var ledger = await DeliveriesAsync(app, issueId);
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));
        Assert.Contains(ledger, d => d.Attempts > 1); // some were really deferred first
    }

    [Fact]
    public async Task AHardBounceFailsTheDeliverySuppressesTheReaderAndIsNeverRetried()
    {
        await using var smtp = await SmtpServer.StartAsync(new { reject = new[] { "reader0003@example.org", "reader0007@example.org" } });
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 20);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        Assert.Equal(18, smtp.Count);
        var ledger = await DeliveriesAsync(app, issueId);
        var failed = ledger.Where(d => d.Status == DeliveryStatus.Failed).ToList();
        Assert.Equal(2, failed.Count);
        Assert.All(failed, d => Assert.Equal(550, d.SmtpCode));
        Assert.All(failed, d => Assert.Equal(1, d.Attempts));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(SubscriberStatus.Bounced, (await db.Subscribers.SingleAsync(s => s.EmailKey == "reader0003@example.org", Ct)).Status);
        Assert.True(await db.Suppressions.AnyAsync(s => s.EmailHash == app.AddressHash("reader0007@example.org"), Ct));

        // "Resend to failed" leaves hard bounces alone: they are no longer active readers.
        Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<IssueSender>().RetryFailedAsync(issueId, Ct));
    }

    [Fact]
    public async Task ResendingToTheFailedOfACancelledIssueChangesNothing()
    {
        using var app = new NewsletterApp();
        await AddReadersAsync(app, 3);
        var issueId = await AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        Assert.Equal(3, await sp.GetRequiredService<Ledger>().SnapshotAsync(await db.Issues.SingleAsync(i => i.Id == issueId, Ct), Ct));
        await db.Deliveries.Where(d => d.IssueId == issueId).ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DeliveryStatus.Failed).SetProperty(d => d.SmtpCode, 451), Ct);
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Cancelled), Ct);

        // A resend clicked on a page rendered before someone else cancelled: the rows must not go back to
        // Pending under a Cancelled issue, where no worker would ever send them.
        Assert.Equal(0, await sp.GetRequiredService<IssueSender>().RetryFailedAsync(issueId, Ct));
        Assert.All(await DeliveriesAsync(app, issueId), d => Assert.Equal(DeliveryStatus.Failed, d.Status));
        Assert.Equal(IssueStatus.Cancelled, (await db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct)).Status);

        // The same resend on a Sent issue reopens it.
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sent), Ct);
        Assert.Equal(3, await sp.GetRequiredService<IssueSender>().RetryFailedAsync(issueId, Ct));
        Assert.NotEqual(IssueStatus.Cancelled, (await db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct)).Status);
    }

    [Fact]
    public async Task ADroppedConnectionRetriesTheBatchAndFailsNobody()
    {
        await using var smtp = await SmtpServer.StartAsync(new { drop_after = 5 });
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 30);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        // A reader whose message was the one dropped twice (the sixth of a connection, then again of another:
        // which reader lands there depends on how the workers' batches interleave) is held for the author, by
        // design: no third attempt at a possible duplicate without them. Here the drop comes before the server
        // saves anything, so a held reader has no copy; everybody else has exactly one, and nobody failed.
        var deliveries = await DeliveriesAsync(app, issueId);
        var emails = await EmailsAsync(app);
        var held = deliveries.Where(d => d.Status == DeliveryStatus.Held).ToList();
        Assert.All(deliveries.Except(held), d => Assert.Equal(DeliveryStatus.Sent, d.Status));
        Assert.All(held, d => Assert.True(d.Uncertain));
        var received = smtp.Messages();
        var expected = deliveries.Except(held).Select(d => emails[d.SubscriberId]).Order(StringComparer.OrdinalIgnoreCase);
        Assert.Equal(expected, received.Select(r => r.EnvelopeTo).Order(StringComparer.OrdinalIgnoreCase));
        Assert.True(smtp.Sessions >= 6, $"expected reconnects, saw {smtp.Sessions} sessions");
    }

    [Fact]
    public async Task TheLedgerKeepsToExistingIssuesAndLeavesWithADeletedOne()
    {
        using var app = new NewsletterApp();
        await AddReadersAsync(app, 3);
        var issueId = await AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        Assert.Equal(3, await sp.GetRequiredService<Ledger>().SnapshotAsync(await db.Issues.SingleAsync(i => i.Id == issueId, Ct), Ct));

        // What the foreign key did, now kept by triggers: no delivery for an issue that does not exist ...
        var reader = await db.Subscribers.Select(s => s.Id).FirstAsync(Ct);
        await Assert.ThrowsAnyAsync<Exception>(() => db.Database.ExecuteSqlAsync($"""
            INSERT INTO "Deliveries" ("IssueId", "SubscriberId", "Status", "Attempts", "LeaseExpiresAtMs", "NextAttemptAtMs", "Uncertain")
            VALUES ({issueId + 1000}, {reader}, 0, 0, 0, 0, FALSE)
            """, Ct));

        // ... and an issue's deliveries go with it.
        await db.Issues.Where(i => i.Id == issueId).ExecuteDeleteAsync(Ct);
        Assert.Equal(0, await db.Deliveries.CountAsync(Ct));
    }

    [Fact]
    public async Task AReaderWhoLeftAfterTheSnapshotIsSkipped()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        var ids = await AddReadersAsync(app, 10);
        var issueId = await AddIssueAsync(app);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var sp = scope.ServiceProvider;
            var db = sp.GetRequiredService<AppDbContext>();
            var issue = await db.Issues.SingleAsync(i => i.Id == issueId, Ct);
            Assert.Equal(10, await sp.GetRequiredService<Ledger>().SnapshotAsync(issue, Ct));
            Assert.Equal(10, await sp.GetRequiredService<Ledger>().SnapshotAsync(issue, Ct)); // a re-run adds nobody
            await sp.GetRequiredService<ReaderLifecycle>().UnsubscribeAsync(ids[4], "test", Ct);
            await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Sending).SetProperty(i => i.Number, 1), Ct);
            sp.GetRequiredService<IssueSender>().StartWorkers(issueId);
        }

        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        Assert.Equal(9, smtp.Count);
        var skipped = Assert.Single(await DeliveriesAsync(app, issueId), d => d.Status == DeliveryStatus.Skipped);
        Assert.Equal(ids[4], skipped.SubscriberId);
    }

    [Fact]
    public async Task OnlyReadersWithTheAudienceTagGetATaggedIssue()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 6, tag: "sqlite", prefix: "tagged");
        await AddReadersAsync(app, 5, prefix: "untagged");
        var issueId = await AddIssueAsync(app, audienceTag: "sqlite");
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        Assert.Equal(6, smtp.Count);
        Assert.All(smtp.Messages(), m => Assert.StartsWith("tagged", m.EnvelopeTo, StringComparison.Ordinal));
    }

    [Fact]
    public async Task CancelStopsWithinABatchAndMarksTheRestSkipped()
    {
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 40 });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:Concurrency"] = "1", ["Sending:BatchSize"] = "5" }));
        await AddReadersAsync(app, 200);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await smtp.WaitForAsync(5);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<IssueSender>().CancelAsync(issueId, Ct));
        }

        await Task.Delay(1500, Ct);
        var sentAtCancel = smtp.Count;
        await Task.Delay(1000, Ct);
        Assert.Equal(sentAtCancel, smtp.Count); // nothing more goes out
        Assert.True(sentAtCancel < 200);
        var ledger = await DeliveriesAsync(app, issueId);
        Assert.True(ledger.Count(d => d.Status == DeliveryStatus.Skipped) >= 200 - sentAtCancel - 5);
    }

    [Fact]
    public async Task ACancelledSendCountsWhoItLeftAsCancelledNotSkippedAndIsNotShownAsComplete()
    {
        // Paused, then cancelled: the tester saw "100%", everyone left "skipped" (which means unsubscribed or
        // suppressed), the pause's reason as the error and "Finished" on a send that was stopped.
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 40 });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:Concurrency"] = "1", ["Sending:BatchSize"] = "5" }));
        await AddReadersAsync(app, 60);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await smtp.WaitForAsync(5);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<IssueSender>().PauseAsync(issueId, "Paused through the API.", Ct));
        }

        // The worker ends its batch and hands back what it did not start; then the author cancels.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await DeliveriesAsync(app, issueId)).Any(d => d.Status == DeliveryStatus.Sending))
        {
            Assert.True(DateTime.UtcNow < deadline, "the paused send's worker never let its rows go");
            await Task.Delay(100, Ct);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<IssueSender>().CancelAsync(issueId, Ct));
        }

        var ledger = await DeliveriesAsync(app, issueId);
        var sent = ledger.Count(d => d.Status == DeliveryStatus.Sent);
        Assert.InRange(sent, 5, 59);
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        using (var progress = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync($"/admin/api/issues/{issueId}/progress", Ct)))
        {
            var p = progress.RootElement;
            Assert.Equal("Cancelled", p.GetProperty("status").GetString());
            Assert.Equal(System.Text.Json.JsonValueKind.Null, p.GetProperty("error").ValueKind);
            Assert.Equal(System.Text.Json.JsonValueKind.Null, p.GetProperty("eta").ValueKind);
            Assert.Equal((60, sent, 0, 60 - sent), (p.GetProperty("recipients").GetInt32(), p.GetProperty("sent").GetInt32(), p.GetProperty("skipped").GetInt32(), p.GetProperty("cancelled").GetInt32()));
            Assert.Equal(sent * 100 / 60, p.GetProperty("percent").GetInt32());
        }

        var page = System.Net.WebUtility.HtmlDecode(await client.GetStringAsync($"/admin/issues/{issueId}/progress", Ct));
        Assert.Contains("not sent: cancelled", page, StringComparison.Ordinal);
        Assert.DoesNotContain("Paused through the API.", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<dt>Finished</dt>", page, StringComparison.Ordinal);
        Assert.Contains("<dt>Cancelled</dt>", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACancelledIssueThatReachedReadersKeepsItsPageAndNumberUntilTheAuthorTakesItOffKnowingly()
    {
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 40 });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:Concurrency"] = "1", ["Sending:BatchSize"] = "5" }));
        await AddReadersAsync(app, 200);
        var issueId = await AddIssueAsync(app, subject: "Cancelled part way");
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        await SendNowAsync(app, issueId);
        await smtp.WaitForAsync(5);

        // "Cancel the rest" asks first, and says who keeps what.
        var progressUrl = $"/admin/issues/{issueId}/progress";
        var before = System.Net.WebUtility.HtmlDecode(await author.GetStringAsync(progressUrl, Ct));
        Assert.Contains("Yes, cancel the rest", before, StringComparison.Ordinal);
        var cancel = await Forms.PostAsync(author, progressUrl, new Dictionary<string, string>(), progressUrl + "?handler=Cancel");
        Assert.Equal(HttpStatusCode.Redirect, cancel.StatusCode);
        await WaitForStatusAsync(app, issueId, IssueStatus.Cancelled);

        // The readers who got it have a working "Read it on the web" link, and the archive keeps its number.
        var reader = app.CreateClient();
        var link = Assert.Single(LinkRegex().Matches(smtp.Messages()[0].Message.HtmlBody ?? "").Select(m => m.Groups[1].Value).Distinct(),
            l => l.Contains("/issues/cancelled-part-way", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(new Uri(link).PathAndQuery, Ct)).StatusCode);
        Assert.Contains("Cancelled part way", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        var after = System.Net.WebUtility.HtmlDecode(await author.GetStringAsync(progressUrl, Ct));
        Assert.Contains("keeps its web page", after, StringComparison.Ordinal);

        // Taken off the site knowingly: the address says it is gone; put back, it returns at the same address.
        var withdraw = await Forms.PostAsync(author, progressUrl, new Dictionary<string, string>(), progressUrl + "?handler=Withdraw");
        Assert.Equal(HttpStatusCode.Redirect, withdraw.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, (await reader.GetAsync("/issues/cancelled-part-way", Ct)).StatusCode);
        Assert.DoesNotContain("Cancelled part way", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.DoesNotContain("Cancelled part way", await reader.GetStringAsync("/feeds/issues.rss", Ct), StringComparison.Ordinal);
        var republish = await Forms.PostAsync(author, progressUrl, new Dictionary<string, string>(), progressUrl + "?handler=Republish");
        Assert.Equal(HttpStatusCode.Redirect, republish.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/issues/cancelled-part-way", Ct)).StatusCode);
    }

    [Fact]
    public async Task ACancelledIssueThatReachedNobodyLeavesTheSiteAndGivesItsNumberBack()
    {
        // Every address refused: the send pauses itself with nobody reached, and the author cancels it.
        var rejected = Enumerable.Range(0, 400).Select(i => $"reader{i:D4}@example.org").ToArray();
        await using var smtp = await SmtpServer.StartAsync(new { reject = rejected });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:Concurrency"] = "1", ["Sending:BatchSize"] = "20" }));
        await AddReadersAsync(app, 400);
        var issueId = await AddIssueAsync(app, subject: "Never reached anyone");
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Paused);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<IssueSender>().CancelAsync(issueId, Ct));
            var issue = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct);
            Assert.Null(issue.Number);
            Assert.Null(issue.PublishedAt);
        }

        var reader = app.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync("/issues/never-reached-anyone", Ct)).StatusCode);
        Assert.DoesNotContain("Never reached anyone", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);

        // The next issue takes number 1: no hole in the numbering.
        var next = await AddIssueAsync(app, subject: "The one that went out");
        await SendNowAsync(app, next);
        await WaitForStatusAsync(app, next, IssueStatus.Paused);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.Equal(1, (await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == next, Ct)).Number);
        }
    }

    [Fact]
    public async Task ASendWhoseFailureRatePassesTheThresholdPausesItselfAndSaysWhy()
    {
        var rejected = Enumerable.Range(0, 150).Select(i => $"reader{i:D4}@example.org").ToArray();
        await using var smtp = await SmtpServer.StartAsync(new { reject = rejected });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:Concurrency"] = "1", ["Sending:BatchSize"] = "20" }));
        await AddReadersAsync(app, 400);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        var paused = await WaitForStatusAsync(app, issueId, IssueStatus.Paused);
        Assert.Contains("failed", paused.PausedReason, StringComparison.Ordinal);
        var ledger = await DeliveriesAsync(app, issueId);
        Assert.Contains(ledger, d => d.Status == DeliveryStatus.Pending); // it stopped, it didn't burn through the list

        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var issues = await author.GetStringAsync("/admin/issues", Ct);
        Assert.Contains("is paused", issues, StringComparison.Ordinal);
        // The dashboard, the first page an author opens, says it too, with the reason and the way to the send.
        var dashboard = await author.GetStringAsync("/admin", Ct);
        Assert.Contains("is paused.</strong> Paused automatically", dashboard, StringComparison.Ordinal);
        Assert.Contains($"/admin/issues/{issueId}/progress", dashboard, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATemplateBrokenAfterStartPausesTheSendAtOnceWithTheReasonAndClaimsNobody()
    {
        var templates = Mail.EmailTemplateTests.CopyOfTemplates();
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new() { ["Mail:TemplatesFolder"] = templates }));
        await AddReadersAsync(app, 20);
        var issueId = await AddIssueAsync(app);
        _ = app.Services; // started: the templates passed the start-up check

        // An author's edit that doesn't parse, saved while the app runs.
        var issueTemplate = Path.Combine(templates, "issue.html.liquid");
        var good = await File.ReadAllTextAsync(issueTemplate, Ct);
        await File.WriteAllTextAsync(issueTemplate, "<p>{% for note in notes %}{{ note.title }}</p>", Ct);
        File.SetLastWriteTimeUtc(issueTemplate, DateTime.UtcNow.AddSeconds(5));

        await SendNowAsync(app, issueId);
        var paused = await WaitForStatusAsync(app, issueId, IssueStatus.Paused);
        Assert.Contains("template", paused.PausedReason, StringComparison.Ordinal);
        Assert.Contains("issue.html.liquid", paused.PausedReason, StringComparison.Ordinal);
        var ledger = await DeliveriesAsync(app, issueId);
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Pending, d.Status));
        Assert.DoesNotContain(ledger, d => d.Uncertain);
        Assert.Equal(0, smtp.Count);

        // Fixed and resumed, the send finishes, each reader once.
        await File.WriteAllTextAsync(issueTemplate, good, Ct);
        File.SetLastWriteTimeUtc(issueTemplate, DateTime.UtcNow.AddSeconds(10));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<IssueSender>().ResumeAsync(issueId, Ct));
        }

        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        Assert.Equal(20, (await smtp.WaitForAsync(20)).Select(m => m.EnvelopeTo).Distinct().Count());
    }

    /// <summary>
    /// Test copies are asked for only once the issue renders: with a broken template the admin and the API said
    /// "sent" while the job failed in the background. Each request is in the audit log (the copies go to typed
    /// addresses), and an author has 50 copies an hour.
    /// </summary>
    [Fact]
    public async Task ATestSendIsRefusedWhenTheEmailDoesNotRenderAndIsAuditedWithinAnHourlyNumber()
    {
        var templates = Mail.EmailTemplateTests.CopyOfTemplates();
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new() { ["Mail:TemplatesFolder"] = templates }));
        var issueId = await AddIssueAsync(app);
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var preview = $"/admin/issues/{issueId}/preview";
        var api = await Api.ApiClients.ClientAsync(app);

        var issueTemplate = Path.Combine(templates, "issue.html.liquid");
        var good = await File.ReadAllTextAsync(issueTemplate, Ct);
        await File.WriteAllTextAsync(issueTemplate, good + "{{ subscriber.name | nosuchfilter }}", Ct);
        File.SetLastWriteTimeUtc(issueTemplate, DateTime.UtcNow.AddSeconds(5));
        var broken = await Forms.PostAsync(client, preview, new Dictionary<string, string> { ["addresses"] = "me@example.org" }, preview + "?handler=Test");
        Assert.Equal(HttpStatusCode.Conflict, broken.StatusCode);
        Assert.Contains("Not sent: the email does not render.", System.Net.WebUtility.HtmlDecode(await broken.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        var brokenApi = await api.PostAsync($"/api/v1/issues/{issueId}/test", new StringContent("""{"addresses":["me@example.org"]}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Conflict, brokenApi.StatusCode);
        Assert.Contains("does not render", await brokenApi.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        await File.WriteAllTextAsync(issueTemplate, good, Ct);
        File.SetLastWriteTimeUtc(issueTemplate, DateTime.UtcNow.AddSeconds(10));
        var five = string.Join(' ', Enumerable.Range(1, 5).Select(i => $"tester{i}@example.org"));
        for (var round = 0; round < 10; round++)
        {
            Assert.Equal(HttpStatusCode.Redirect, (await Forms.PostAsync(client, preview, new Dictionary<string, string> { ["addresses"] = five }, preview + "?handler=Test")).StatusCode);
        }

        var over = await Forms.PostAsync(client, preview, new Dictionary<string, string> { ["addresses"] = "one.more@example.org" }, preview + "?handler=Test");
        Assert.Equal(HttpStatusCode.TooManyRequests, over.StatusCode);
        Assert.Contains("at most 50 test copies an hour", await over.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        await smtp.WaitForAsync(50);
        await Subscribers.SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(50, smtp.Count);
        Assert.DoesNotContain(smtp.Messages(), m => m.EnvelopeTo is "me@example.org" or "one.more@example.org");
        await using var scope = app.Services.CreateAsyncScope();
        var audited = await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEntries.Where(a => a.Action == "issue.test").ToListAsync(Ct);
        Assert.Equal(10, audited.Count);
        Assert.All(audited, a => Assert.Contains("test copies to tester1@example.org, tester2@example.org", a.Detail, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SendNowActsOnWhatIsOnTheScreenUnsavedEditsAreSavedAndShownBeforeAnythingGoesOut()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 5);
        var issueId = await AddIssueAsync(app, subject: "The old subject");
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var editUrl = $"/admin/issues/{issueId}";

        // The author changes subject and body and, without pressing Save, confirms "Send now": the button
        // belongs to the editor form, so the edits come along.
        var screen = new Dictionary<string, string> { ["subject"] = "The new subject", ["markdown"] = "The **new** body.", ["channel"] = "both" };
        var first = await Forms.PostAsync(client, editUrl, screen, editUrl + "?handler=SendNow");
        Assert.Equal(HttpStatusCode.Redirect, first.StatusCode);
        Assert.Contains("nothing was sent", await client.GetStringAsync(first.Headers.Location!.OriginalString, Ct), StringComparison.Ordinal);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var issue = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct);
            Assert.Equal(IssueStatus.Draft, issue.Status);
            Assert.Equal("The new subject", issue.Subject);
        }

        Assert.Equal(0, smtp.Count);

        // Confirmed again with the same screen: it goes, with what the author saw.
        var second = await Forms.PostAsync(client, editUrl, screen, editUrl + "?handler=SendNow");
        Assert.Equal($"/admin/issues/{issueId}/progress", second.Headers.Location!.OriginalString);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        var received = await smtp.WaitForAsync(5);
        Assert.All(received, r => Assert.Equal("The new subject", r.Message.Subject));
        Assert.All(received, r => Assert.Contains("new", r.Message.TextBody, StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheReconcilerStartsAScheduledIssueWhoseJobWasLost()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 5);
        var issueId = await AddIssueAsync(app);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            // Scheduled in the table, but no Hangfire job exists for it: as after losing the job store.
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Scheduled).SetProperty(i => i.ScheduledAt, DateTime.UtcNow.AddSeconds(-5)), Ct);
            await scope.ServiceProvider.GetRequiredService<Reconciler>().RunAsync(Ct);
        }

        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        Assert.Equal(5, smtp.Count);
    }

    [Fact]
    public async Task AnAuthorSchedulesPreviewsTestsAndWatchesProgressThroughThePages()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 12);
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await Forms.PostAsync(client, "/admin/issues", new Dictionary<string, string>(), "/admin/issues?handler=New");
        var editUrl = created.Headers.Location!.OriginalString;
        var saved = await Forms.PostAsync(client, editUrl, new Dictionary<string, string>
        {
            ["subject"] = "Issue one: the ledger",
            ["preheader"] = "Why the table is the truth",
            ["markdown"] = "Body with an ![](https://example.org/x.png) image, a [broken](/nowhere) link and a [relative](elsewhere.html) one.",
            ["channel"] = "both",
        }, editUrl + "?handler=Save");
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        var preview = await client.GetStringAsync(editUrl + "/preview", Ct);
        Assert.Contains("has no alt text", preview, StringComparison.Ordinal);
        Assert.Contains("work from an inbox", preview, StringComparison.Ordinal);
        Assert.Contains("/nowhere, which is not a page of this site", preview, StringComparison.Ordinal);
        // Its own web address, which exists once it is sent, is no broken link.
        Assert.DoesNotContain("/issues/issue-one-the-ledger, which doesn", preview, StringComparison.Ordinal);
        Assert.Contains("12", preview, StringComparison.Ordinal);

        var test = await Forms.PostAsync(client, editUrl + "/preview", new Dictionary<string, string> { ["addresses"] = "me@example.org, you@example.org" }, editUrl + "/preview?handler=Test");
        Assert.Equal(HttpStatusCode.Redirect, test.StatusCode);
        var tests = await smtp.WaitForAsync(2);
        Assert.All(tests, t => Assert.StartsWith("[Test] ", t.Message.Subject, StringComparison.Ordinal));

        var tooMany = await Forms.PostAsync(client, editUrl + "/preview", new Dictionary<string, string> { ["addresses"] = "a@x.org b@x.org c@x.org d@x.org e@x.org f@x.org" }, editUrl + "/preview?handler=Test");
        // Refused on the page itself, with the addresses as typed kept in the box.
        Assert.Equal(HttpStatusCode.OK, tooMany.StatusCode);
        var refusedPage = await tooMany.Content.ReadAsStringAsync(Ct);
        Assert.Contains("Give 1 to 5", refusedPage, StringComparison.Ordinal);
        Assert.Contains(">a@x.org b@x.org c@x.org d@x.org e@x.org f@x.org</textarea>", refusedPage, StringComparison.Ordinal);

        // Two clicks on "Send now" send once.
        var token = await Forms.TokenAsync(client, editUrl);
        FormUrlEncodedContent Form() => new(new Dictionary<string, string> { ["__RequestVerificationToken"] = token });
        await Task.WhenAll(client.PostAsync(editUrl + "?handler=SendNow", Form(), Ct), client.PostAsync(editUrl + "?handler=SendNow", Form(), Ct));
        var id = int.Parse(editUrl.Split('/').Last(), System.Globalization.CultureInfo.InvariantCulture);
        await WaitForStatusAsync(app, id, IssueStatus.Sent);
        Assert.Equal(14, smtp.Count);
        // A tab still showing the editor sends its screen: it hears the issue went already, not "saved elsewhere".
        var stale = await client.PostAsync(editUrl + "?handler=SendNow", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token, ["subject"] = "Edited in an old tab", ["markdown"] = "x", ["channel"] = "both", ["version"] = "1",
        }), Ct);
        Assert.Equal($"/admin/issues/{id}/progress", stale.Headers.Location!.OriginalString);
        Assert.Contains("already started from another tab", await client.GetStringAsync(stale.Headers.Location.OriginalString, Ct), StringComparison.Ordinal);
        Assert.Equal(14, smtp.Count);
        var progress = await client.GetStringAsync($"/admin/issues/{id}/progress", Ct);
        Assert.Contains("Sent", progress, StringComparison.Ordinal);
        var json = await client.GetStringAsync($"/admin/api/issues/{id}/progress", Ct);
        Assert.Contains("\"sent\":12", json, StringComparison.Ordinal);
        Assert.Contains("\"done\":true", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithABounceDomainEachMessageCarriesItsOwnVerpAddressThatNamesItsDelivery()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:BounceDomain"] = "bounces.example.net" }));
        await AddReadersAsync(app, 12);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var ledger = (await DeliveriesAsync(app, issueId)).ToDictionary(d => d.SubscriberId);
        await using var scope = app.Services.CreateAsyncScope();
        var ids = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.ToDictionaryAsync(s => s.EmailKey, s => s.Id, Ct);
        var received = smtp.Messages();
        Assert.Equal(12, received.Count);
        foreach (var r in received)
        {
            var delivery = ledger[ids[r.EnvelopeTo]];
            // The delivery's id is sealed: the address names it to us and tells the reader nothing.
            Assert.Matches(@"^bounce\+[0-9a-f]{32}@bounces\.example\.net$", r.EnvelopeFrom);
            Assert.True(app.Services.GetRequiredService<VerpAddresses>().TryRead(r.EnvelopeFrom, out var named));
            Assert.Equal(delivery.Id, named);
            Assert.Null(r.Message.Headers[MimeKit.HeaderId.ReturnPath]); // the receiving server writes it, not us
        }

        Assert.Equal(12, received.Select(r => r.EnvelopeFrom).Distinct().Count());
    }

    [Fact]
    public async Task TheGlobalRateLimitHoldsASendToItsMessagesPerSecond()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:MaxPerSecond"] = "10" }));
        await AddReadersAsync(app, 45);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        // A bucket of 10 that refills at 10/s: 45 messages cannot be accepted in less than 3.5 s, however fast the
        // machine, and no second holds more than the bucket and a second's refill. (Lower bounds only: a slow
        // machine makes this pass more easily, never fail.)
        var sent = (await DeliveriesAsync(app, issueId)).Select(d => d.SentAtMs!.Value).Order().ToList();
        Assert.Equal(45, sent.Count);
        Assert.True(sent[^1] - sent[0] >= 3_000, $"45 messages in {sent[^1] - sent[0]} ms at 10/s");
        Assert.True(smtp.Sessions <= 3, $"{smtp.Sessions} connections for 3 workers");
    }

    [Fact]
    public async Task ASendThatMakesNoProgressPausesItselfAndSaysWhy()
    {
        // Nothing listens on this port: every connection attempt fails, so no message is ever accepted.
        var settings = new Dictionary<string, string?>
        {
            ["Mail:Transport"] = "Smtp",
            ["Mail:Smtp:Host"] = "127.0.0.1",
            ["Mail:Smtp:Port"] = AppProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mail:Smtp:Security"] = "None",
            ["Sending:StallTimeout"] = "00:00:03",
            ["Sending:ReconcileInterval"] = "00:00:01",
            ["Sending:BatchSize"] = "5",
        };
        using var app = new NewsletterApp(settings);
        await AddReadersAsync(app, 10);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);

        Issue paused;
        try
        {
            paused = await WaitForStatusAsync(app, issueId, IssueStatus.Paused, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + " Jobs: " + app.JobDiagnostics(), e);
        }
        Assert.Contains("the SMTP relay has not answered since", paused.PausedReason, StringComparison.Ordinal);
        var ledger = await DeliveriesAsync(app, issueId);
        // Nobody was failed for the server's absence: the batch went back, to be sent on resume.
        Assert.DoesNotContain(ledger, d => d.Status == DeliveryStatus.Failed);
        Assert.All(ledger, d => Assert.True(d.Status is DeliveryStatus.Pending or DeliveryStatus.Sending, $"{d.Status}"));
    }

    [Fact]
    public async Task AConfirmationEmailDoesNotWaitForALongSendToFinish()
    {
        // 200 ms per message on 2 workers: the send takes at least 8 s, however fast the machine.
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 200 });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:Concurrency"] = "2", ["Jobs:WorkerCount"] = "2" }));
        await AddReadersAsync(app, 80);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        while (smtp.Count == 0)
        {
            await Task.Delay(50, Ct);
        }

        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(app.CreateClient(), "/subscribe", new { email = "new.reader@example.org" }, Ct)).StatusCode);
        var confirmation = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), r => r.EnvelopeTo == "new.reader@example.org");

        // It arrived while the issue was still going out: the send workers have a Hangfire server of their own.
        var issue = await WaitForStatusAsync(app, issueId, IssueStatus.Sending);
        Assert.NotNull(confirmation);
        Assert.True(smtp.Messages().Count(r => r.EnvelopeTo.StartsWith("reader", StringComparison.Ordinal)) < 80, "the send had finished first");
        Assert.Equal(IssueStatus.Sending, issue.Status);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
    }

    [System.Text.RegularExpressions.GeneratedRegex("href=\"([^\"]+)\"")]
    private static partial System.Text.RegularExpressions.Regex LinkRegex();
}
