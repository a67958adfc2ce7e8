using Microsoft.EntityFrameworkCore;
using Newsletter.Testing;
using Newsletter.Web.Digests;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using static Newsletter.Tests.Digests.DigestFixture;
using Newsletter.Tests.Sending;

namespace Newsletter.Tests.Digests;

/// <summary>What leaves the machine after a draft, through the real SMTP server: the send, once, and the approval email.</summary>
public class DigestDeliveryTests
{
    [Fact]
    public async Task ARestartAfterTheDraftNeitherDraftsAgainNorSendsTwice()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(SendingFixture.Settings(smtp, new() { ["Site:TimeZone"] = Zone }));
        await SendingFixture.AddReadersAsync(app, 6);
        var digest = await AddDigestAsync(app, Weekly(mode: DigestMode.SendItself));
        await AddNoteAsync(app, "Leases beat locks");
        await AddNoteAsync(app, "Numbers need a harness");
        var monday = await NextRunAsync(app, digest.Id);

        // The process dies after the draft is committed and before the issue is handed to the sender.
        var crash = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            RunAtAsync(app, digest.Id, monday, r => r.AfterDraft = () => throw new InvalidOperationException("killed after the draft")));
        Assert.Equal("killed after the draft", crash.Message);
        var issueId = await QueryAsync(app, db => db.Issues.Select(i => i.Id).SingleAsync(Ct));
        Assert.Equal(IssueStatus.Draft, await QueryAsync(app, db => db.Issues.Select(i => i.Status).SingleAsync(Ct)));
        Assert.Equal(0, smtp.Count);

        // Another node (a restarted process: all it knows is in the tables) runs the same period: it finds the
        // draft, sends it, and drafts nothing.
        using (var restarted = new NewsletterApp(app.SecondNode(SendingFixture.Settings(smtp, new() { ["Site:TimeZone"] = Zone }))))
        {
            var resumed = await RunAtAsync(restarted, digest.Id, monday.AddMinutes(1));
            Assert.Equal(DigestRunOutcome.AlreadyDrafted, resumed.Outcome);
            Assert.Equal(issueId, resumed.IssueId);
            await SendingFixture.WaitForStatusAsync(restarted, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(2));
            // And Hangfire's retry of the first job, after the send: nothing more.
            Assert.Equal(DigestRunOutcome.AlreadyDrafted, (await RunAtAsync(app, digest.Id, monday.AddMinutes(2))).Outcome);
            Assert.Equal(DigestRunOutcome.AlreadyDrafted, (await RunAtAsync(restarted, digest.Id, monday.AddMinutes(2))).Outcome);
        }

        Assert.Equal(1, await QueryAsync(app, db => db.Issues.CountAsync(Ct)));
        var copies = SendingProcess.CopiesByRecipient(smtp);
        Assert.Equal(6, copies.Count);
        Assert.All(copies, c => Assert.True(c.Value == 1, $"{c.Key} got {c.Value} copies"));
        Assert.All(await SendingFixture.DeliveriesAsync(app, issueId), d => Assert.Equal(DeliveryStatus.Sent, d.Status));
        Assert.Equal(DigestRunStatus.Scheduled, await QueryAsync(app, db => db.DigestRuns.Select(r => r.Status).SingleAsync(Ct)));
        // The audit log says what sent it, once: the digest, not nobody.
        var sent = await QueryAsync(app, db => db.AuditEntries.Where(e => e.Action == Newsletter.Web.Audit.AuditActions.IssueSend).ToListAsync(Ct));
        Assert.Equal($"the digest “{digest.Name}”, which sends itself", Assert.Single(sent).ActorName);
    }

    [Fact]
    public async Task AnApprovalDigestEmailsTheAuthorALinkToTheDraftOnce()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(SendingFixture.Settings(smtp, new() { ["Site:TimeZone"] = Zone }));
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client, "author@example.org");
        await SendingFixture.AddReadersAsync(app, 3);
        var digest = await AddDigestAsync(app, Weekly("Field notes"));
        await AddNoteAsync(app, "Leases beat locks");
        var monday = await NextRunAsync(app, digest.Id);

        var result = await RunAtAsync(app, digest.Id, monday);

        Assert.Equal(DigestRunOutcome.Drafted, result.Outcome);
        var mail = Assert.Single(smtp.Messages());
        Assert.Equal("author@example.org", mail.EnvelopeTo);
        Assert.StartsWith("Ready for you: Field notes: ", mail.Message.Subject, StringComparison.Ordinal);
        Assert.Contains($"http://localhost/admin/issues/{result.IssueId}", mail.Message.TextBody, StringComparison.Ordinal);
        Assert.Contains("from 1 new note.", mail.Message.TextBody, StringComparison.Ordinal);

        // A retry of the same period tells nobody again; and nothing went to the readers.
        await RunAtAsync(app, digest.Id, monday.AddMinutes(1));
        Assert.Single(smtp.Messages());
        Assert.Equal(IssueStatus.Draft, await QueryAsync(app, db => db.Issues.Select(i => i.Status).SingleAsync(Ct)));
        Assert.Equal(0, await QueryAsync(app, db => db.Deliveries.CountAsync(Ct)));

        // The link opens the draft for the author.
        var page = await client.GetAsync(new Uri($"/admin/issues/{result.IssueId}", UriKind.Relative), Ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
    }
}
