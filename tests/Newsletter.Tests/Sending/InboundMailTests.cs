using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Sending;

/// <summary>
/// Mail that comes back after the relay said 250: a dead address, a spam complaint, a mailto unsubscribe.
/// The reports are written the way Postfix and the big mailbox providers write them.
/// </summary>
public class InboundMailTests
{
    private const string Secret = "inbound-secret-for-tests-0123456789";

    [Fact]
    public async Task ABounceThatArrivesLaterFailsTheDeliveryAndSuppressesTheReaderOnce()
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var _ = smtp;
        using var __ = app;
        var message = smtp.Messages().Single(m => m.EnvelopeTo == "reader0003@example.org");

        // Posted as the README's curl command posts it: --data-binary without a type says it is a form.
        var response = await PostAsync(app, Dsn(message.EnvelopeFrom, "reader0003@example.org", "failed", "5.1.1", "smtp; 550 5.1.1 <reader0003@example.org>: Recipient address rejected: User unknown in virtual mailbox table"),
            "application/x-www-form-urlencoded");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"kind\":\"HardBounce\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var delivery = (await DeliveriesAsync(app, issueId)).Single(d => d.Id == Delivery(app, message.EnvelopeFrom));
        Assert.Equal(DeliveryStatus.Failed, delivery.Status);
        Assert.Equal(550, delivery.SmtpCode);
        Assert.Contains("User unknown", delivery.LastError, StringComparison.Ordinal);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var reader = await db.Subscribers.SingleAsync(s => s.EmailKey == "reader0003@example.org", Ct);
        Assert.Equal(SubscriberStatus.Bounced, reader.Status);
        Assert.True(await db.Suppressions.AnyAsync(s => s.EmailHash == app.AddressHash("reader0003@example.org"), Ct));

        // The same report again (MTAs retry) changes nothing and writes no second history line.
        await PostAsync(app, Dsn(message.EnvelopeFrom, "reader0003@example.org", "failed", "5.1.1", "smtp; 550 5.1.1 User unknown"));
        Assert.Equal(1, await db.SubscriberEvents.CountAsync(e => e.SubscriberId == reader.Id && e.Kind == SubscriberEventKind.Bounced, Ct));

        // A full mailbox is a failure for this issue, not a reason to drop the reader.
        var other = smtp.Messages().Single(m => m.EnvelopeTo == "reader0004@example.org");
        await PostAsync(app, Dsn(other.EnvelopeFrom, "reader0004@example.org", "failed", "5.2.2", "smtp; 552 5.2.2 Mailbox full"));
        Assert.Equal(SubscriberStatus.Active, (await db.Subscribers.AsNoTracking().SingleAsync(s => s.EmailKey == "reader0004@example.org", Ct)).Status);
        Assert.Equal(DeliveryStatus.Failed, (await DeliveriesAsync(app, issueId)).Single(d => d.Id == Delivery(app, other.EnvelopeFrom)).Status);
    }

    [Fact]
    public async Task ADelayNoticeAForgedVerpAddressAndJunkChangeNothing()
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var _ = smtp;
        using var __ = app;
        var message = smtp.Messages().Single(m => m.EnvelopeTo == "reader0001@example.org");
        var id = Delivery(app, message.EnvelopeFrom);

        var delayed = await PostAsync(app, Dsn(message.EnvelopeFrom, "reader0001@example.org", "delayed", "4.4.7", "smtp; 451 4.4.7 try again later"));
        Assert.Contains("\"kind\":\"Delayed\"", await delayed.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // Someone who knows how our bounce addresses look, but not the key, tries to drop a reader: the form
        // before with the delivery's real id, a made-up sealed id, and the real one with one digit changed.
        var sealedPart = message.EnvelopeFrom["bounce+".Length..message.EnvelopeFrom.IndexOf('@', StringComparison.Ordinal)];
        foreach (var forged in new[]
        {
            $"bounce+{id}-00000000@bounces.example.net",
            $"bounce+{new string('0', 32)}@bounces.example.net",
            $"bounce+{(sealedPart[0] == '0' ? '1' : '0')}{sealedPart[1..]}@bounces.example.net",
        })
        {
            var forgery = await PostAsync(app, Dsn(forged, "reader0001@example.org", "failed", "5.1.1", "smtp; 550 5.1.1 User unknown"));
            Assert.Contains("\"kind\":\"Ignored\"", await forgery.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        var junk = await PostAsync(app, "this is not an email at all\u0000\u0001");
        Assert.True(junk.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{junk.StatusCode}");

        Assert.All(await DeliveriesAsync(app, issueId), d => Assert.Equal(DeliveryStatus.Sent, d.Status));
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.CountAsync(s => s.Status != SubscriberStatus.Active, Ct));
    }

    [Fact]
    public async Task TheEndpointIsClosedWithoutTheSecretAndOffWithoutOne()
    {
        var (app, smtp, _) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var anonymous = await app.CreateClient().PostAsync("/api/inbound", new StringContent("Subject: x\r\n\r\nbody"), Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/inbound") { Content = new StringContent("Subject: x\r\n\r\nbody") };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Secret + "x");
        Assert.Equal(HttpStatusCode.Unauthorized, (await app.CreateClient().SendAsync(wrong, Ct)).StatusCode);

        using var off = new NewsletterApp();
        Assert.Equal(HttpStatusCode.NotFound, (await off.CreateClient().PostAsync("/api/inbound", new StringContent("Subject: x\r\n\r\nbody"), Ct)).StatusCode);
    }

    [Fact]
    public async Task ASpamComplaintSuppressesTheReaderItNames()
    {
        var (app, smtp, _) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var original = smtp.Messages().Single(m => m.EnvelopeTo == "reader0005@example.org");
        using var raw = new MemoryStream();
        await original.Message.WriteToAsync(raw, Ct);

        // An ARF report as a feedback loop sends it: to the complaints address, with the original attached.
        var report = $"""
            From: feedback@fbl.example.com
            To: complaints@field-notes.example
            Subject: Abuse report
            Message-ID: <fbl-1@fbl.example.com>
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

            --arf
            Content-Type: text/plain

            This is an email abuse report for an email message received from IP 192.0.2.1.

            --arf
            Content-Type: message/feedback-report

            Feedback-Type: abuse
            User-Agent: SomeFBL/1.0
            Version: 1

            --arf
            Content-Type: message/rfc822

            {Encoding.UTF8.GetString(raw.ToArray())}
            --arf--
            """;
        var response = await PostAsync(app, report);
        Assert.Contains("\"kind\":\"Complaint\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(SubscriberStatus.Complained, (await db.Subscribers.SingleAsync(s => s.EmailKey == "reader0005@example.org", Ct)).Status);
        Assert.True(await db.Suppressions.AnyAsync(s => s.EmailHash == app.AddressHash("reader0005@example.org") && s.Reason == SuppressionReason.Complaint, Ct));
    }

    [Fact]
    public async Task AForgedComplaintOrBounceForAReaderChangesNothing()
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var victim = (await Subscribers.SubscribeTests.FindAsync(app, "reader0002@example.org"))!;
        var genuine = smtp.Messages().Single(m => m.EnvelopeTo == victim.Email).Message.MessageId!;
        Assert.Matches($@"^issue-{issueId}\.[0-9a-f]{{32}}@localhost$", genuine);

        // The first, unsigned form (what an attacker can count up to), the form before with a made-up MAC, the
        // genuine id moved to another issue, and the genuine id with one digit changed.
        var sealedPart = genuine[$"issue-{issueId}.".Length..genuine.IndexOf('@', StringComparison.Ordinal)];
        var forgeries = new[]
        {
            $"issue-{issueId}.sub-{victim.Id}@localhost",
            $"issue-{issueId}.sub-{victim.Id}.0123456789abcdef0123@localhost",
            $"issue-{issueId + 1}.{sealedPart}@localhost",
            $"issue-{issueId}.{sealedPart[..^1]}{(sealedPart[^1] == '0' ? '1' : '0')}@localhost",
        };
        foreach (var messageId in forgeries)
        {
            var response = await PostAsync(app, Complaint($"From: Field Notes <notes@localhost>\r\nTo: {victim.Email}\r\nMessage-ID: <{messageId}>\r\nSubject: anything\r\n", "text/rfc822-headers"));
            Assert.Contains("\"kind\":\"Ignored\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        // A bounce without the VERP address's MAC, quoting the genuine Message-ID, is no proof either.
        var bounce = await PostAsync(app, Dsn("notes@localhost", victim.Email, "failed", "5.1.1", "smtp; 550 5.1.1 User unknown").Replace("Subject: Ledgers", $"Message-ID: <{genuine}>\r\nSubject: Ledgers", StringComparison.Ordinal));
        Assert.Contains("\"kind\":\"Ignored\"", await bounce.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(0, await db.Subscribers.CountAsync(s => s.Status != SubscriberStatus.Active, Ct));
        Assert.Equal(0, await db.Suppressions.CountAsync(Ct));
        Assert.Equal(0, await db.SubscriberEvents.CountAsync(e => e.Kind == SubscriberEventKind.Complained || e.Kind == SubscriberEventKind.Bounced, Ct));
        Assert.All(await DeliveriesAsync(app, issueId), d => Assert.Equal(DeliveryStatus.Sent, d.Status));
    }

    /// <summary>
    /// Without a bounce domain there is no VERP address, and bounces come back to the From address (the README's
    /// default). One that quotes our signed Message-ID and names that message's reader as the failed recipient is
    /// matched to that reader; one that quotes nothing, a forged id, or another reader's id is not.
    /// </summary>
    [Fact]
    public async Task WithoutABounceDomainABounceThatQuotesOurMessageIdIsMatchedToItsReader()
    {
        var smtp = await SmtpServer.StartAsync();
        await using var _ = smtp;
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:InboundSecret"] = Secret }));
        await AddReadersAsync(app, 4);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        var sent = smtp.Messages().Single(m => m.EnvelopeTo == "reader0002@example.org");
        Assert.Equal("notes@localhost", sent.EnvelopeFrom);
        var genuine = sent.Message.MessageId!;
        var sealedPart = genuine[$"issue-{issueId}.".Length..genuine.IndexOf('@', StringComparison.Ordinal)];
        var forged = $"issue-{issueId}.{sealedPart[..^1]}{(sealedPart[^1] == '0' ? '1' : '0')}@localhost";
        string Quoting(string recipient, string? messageId) => messageId is null
            ? Dsn(sent.EnvelopeFrom, recipient, "failed", "5.1.1", "smtp; 550 5.1.1 User unknown")
            : Dsn(sent.EnvelopeFrom, recipient, "failed", "5.1.1", "smtp; 550 5.1.1 User unknown").Replace("Subject: Ledgers", $"Message-ID: <{messageId}>\r\nSubject: Ledgers", StringComparison.Ordinal);

        // reader0003 named as the recipient of reader0002's message, the genuine recipient with a forged id, and
        // a report that quotes no Message-ID at all: each is ignored.
        foreach (var (recipient, messageId) in new[] { ("reader0003@example.org", genuine), ("reader0002@example.org", forged), ("reader0002@example.org", (string?)null) })
        {
            var ignored = await PostAsync(app, Quoting(recipient, messageId));
            Assert.Contains("\"kind\":\"Ignored\"", await ignored.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(0, await db.Suppressions.CountAsync(Ct));
        Assert.All(await DeliveriesAsync(app, issueId), d => Assert.Equal(DeliveryStatus.Sent, d.Status));

        // The genuine report (the relay may write the address in another case) fails that delivery and suppresses that reader only.
        var response = await PostAsync(app, Quoting("Reader0002@Example.org", genuine));
        Assert.Contains("\"kind\":\"HardBounce\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var reader = await db.Subscribers.AsNoTracking().SingleAsync(s => s.EmailKey == "reader0002@example.org", Ct);
        Assert.Equal(SubscriberStatus.Bounced, reader.Status);
        var deliveries = await DeliveriesAsync(app, issueId);
        Assert.Equal(DeliveryStatus.Failed, deliveries.Single(d => d.SubscriberId == reader.Id).Status);
        Assert.Single(deliveries, d => d.Status == DeliveryStatus.Failed);
        Assert.Equal(1, await db.Suppressions.CountAsync(Ct));
    }

    [Fact]
    public async Task AComplaintThatQuotesOnlyTheHeadersOfAMessageWeSentIsBelieved()
    {
        var (app, smtp, _) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var original = smtp.Messages().Single(m => m.EnvelopeTo == "reader0006@example.org").Message;
        var headers = string.Concat(original.Headers.Select(h => $"{h.Field}: {h.Value}\r\n"));

        var response = await PostAsync(app, Complaint(headers, "text/rfc822-headers"));

        Assert.Contains("\"kind\":\"Complaint\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Complained, (await Subscribers.SubscribeTests.FindAsync(app, "reader0006@example.org"))!.Status);
    }

    /// <summary>An ARF report with <paramref name="original"/> as its third part.</summary>
    private static string Complaint(string original, string contentType) => $"""
        From: feedback@fbl.example.com
        To: complaints@field-notes.example
        Subject: Abuse report
        Message-ID: <fbl-{Guid.NewGuid():N}@fbl.example.com>
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

        --arf
        Content-Type: text/plain

        This is an email abuse report.

        --arf
        Content-Type: message/feedback-report

        Feedback-Type: abuse
        User-Agent: SomeFBL/1.0
        Version: 1

        --arf
        Content-Type: {contentType}

        {original}
        --arf--
        """;

    [Theory]
    [InlineData("5.4.4", "smtp; 550 5.4.4 no route to host")]
    [InlineData("5.1.7", "smtp; 550 5.1.7 bad sender address")]
    public async Task AReportOfAFailureThatIsNotTheAddressesFaultKeepsTheReader(string status, string diagnostic)
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var message = smtp.Messages().Single(m => m.EnvelopeTo == "reader0007@example.org");

        var response = await PostAsync(app, Dsn(message.EnvelopeFrom, "reader0007@example.org", "failed", status, diagnostic));

        Assert.Contains("\"kind\":\"SoftBounce\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Active, (await Subscribers.SubscribeTests.FindAsync(app, "reader0007@example.org"))!.Status);
        Assert.Equal(DeliveryStatus.Failed, (await DeliveriesAsync(app, issueId)).Single(d => d.Id == Delivery(app, message.EnvelopeFrom)).Status);
    }

    [Fact]
    public async Task BouncesAndComplaintsAboutMailSentBeforeIdsWereSealedStillCount()
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var keys = app.Services.GetRequiredService<Newsletter.Web.Infrastructure.InstallationKeys>();
        var bouncing = (await Subscribers.SubscribeTests.FindAsync(app, "reader0006@example.org"))!;
        var complaining = (await Subscribers.SubscribeTests.FindAsync(app, "reader0007@example.org"))!;
        var delivery = (await DeliveriesAsync(app, issueId)).Single(d => d.SubscriberId == bouncing.Id);

        // The forms every issue sent before carried: the number in the clear and an HMAC of it, under the
        // installation's "verp" and "message-id" keys. Bounces and complaints about those keep coming for months.
        var oldVerp = $"bounce+{delivery.Id}-{Hmac(keys.Get("verp"), delivery.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), 4)}@bounces.example.net";
        var local = $"issue-{issueId}.sub-{complaining.Id}";
        var oldMessageId = $"{local}.{Hmac(keys.Get("message-id"), local, 10)}@localhost";

        var bounce = await PostAsync(app, Dsn(oldVerp, bouncing.Email, "failed", "5.1.1", "smtp; 550 5.1.1 User unknown"));
        Assert.Contains("\"kind\":\"HardBounce\"", await bounce.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var complaint = await PostAsync(app, Complaint($"From: Field Notes <notes@localhost>\r\nTo: {complaining.Email}\r\nMessage-ID: <{oldMessageId}>\r\nSubject: anything\r\n", "text/rfc822-headers"));
        Assert.Contains("\"kind\":\"Complaint\"", await complaint.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        Assert.Equal(DeliveryStatus.Failed, (await DeliveriesAsync(app, issueId)).Single(d => d.Id == delivery.Id).Status);
        Assert.Equal(SubscriberStatus.Bounced, (await Subscribers.SubscribeTests.FindAsync(app, bouncing.Email))!.Status);
        Assert.Equal(SubscriberStatus.Complained, (await Subscribers.SubscribeTests.FindAsync(app, complaining.Email))!.Status);

        static string Hmac(byte[] key, string text, int bytes) =>
            Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(text)).AsSpan(0, bytes));
    }

    [Fact]
    public async Task AMessageWithAMultiMegabyteHeaderLineIsRefusedAtOnce()
    {
        using var app = new NewsletterApp(new() { ["Sending:InboundSecret"] = Secret });

        var response = await PostAsync(app, $"From: a@example.org\r\nX-Junk: {new string('x', 9 * 1024 * 1024)}\r\nSubject: hi\r\n\r\nbody\r\n");

        // "At once" as behaviour, not as a time (a loaded machine makes any time limit a coin toss): the answer
        // names the line, which only the check that runs before MimeKit's parser says, so the parser never
        // spent its time on the megabytes.
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("real mail keeps lines under", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheListUnsubscribeMailtoUnsubscribesThroughTheCommandAnMtaPipesInto()
    {
        var (app, smtp, _) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var message = smtp.Messages().Single(m => m.EnvelopeTo == "reader0002@example.org").Message;
        // "<https://...>, <mailto:notes@...?subject=unsubscribe%20TOKEN>": what a mail client sends when the reader clicks Unsubscribe.
        var mailto = System.Text.RegularExpressions.Regex.Match(message.Headers["List-Unsubscribe"]!, "<mailto:([^?]+)\\?subject=([^>]+)>");
        var request = $"From: reader0002@example.org\r\nTo: {mailto.Groups[1].Value}\r\nSubject: {Uri.UnescapeDataString(mailto.Groups[2].Value)}\r\nMessage-ID: <u-1@example.org>\r\n\r\nThis message was sent by the Unsubscribe button.\r\n";

        // The way Postfix's pipe(8) runs it: the built app, one message on stdin, the same configuration.
        var info = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.dll"), "process-inbound"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoPaths.Root,
        };
        info.Environment["Data__Folder"] = app.DataFolder;
        info.Environment["Notes__Folder"] = app.NotesFolder;
        info.Environment["Notes__ImportOnStartup"] = "false";
        info.Environment["Site__BaseUrl"] = "http://localhost";
        info.Environment["Jobs__Server"] = "false";
        if (app.PostgresConnectionString is { } postgres)
        {
            info.Environment["Database__Provider"] = "PostgreSql";
            info.Environment["Database__ConnectionString"] = postgres;
        }

        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(request);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync(Ct);
        var errors = await process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);

        Assert.True(process.ExitCode == 0, errors);
        Assert.Contains("Unsubscribe: List-Unsubscribe mailto", output, StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Unsubscribed, (await Subscribers.SubscribeTests.FindAsync(app, "reader0002@example.org"))!.Status);
    }

    private static async Task<(NewsletterApp App, SmtpServer Smtp, int IssueId)> SentIssueAsync()
    {
        var smtp = await SmtpServer.StartAsync();
        var app = new NewsletterApp(Settings(smtp, new() { ["Sending:BounceDomain"] = "bounces.example.net", ["Sending:InboundSecret"] = Secret }));
        await AddReadersAsync(app, 8);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        return (app, smtp, issueId);
    }

    private static long Delivery(NewsletterApp app, string verp)
    {
        Assert.Matches(@"^bounce\+[0-9a-f]{32}@bounces\.example\.net$", verp);
        Assert.True(app.Services.GetRequiredService<VerpAddresses>().TryRead(verp, out var id), verp);
        return id;
    }

    private static async Task<HttpResponseMessage> PostAsync(NewsletterApp app, string raw, string type = "message/rfc822")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/inbound") { Content = new StringContent(raw.ReplaceLineEndings("\r\n"), Encoding.UTF8, type) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Secret);
        return await app.CreateClient().SendAsync(request, Ct);
    }

    /// <summary>A delivery status notification as Postfix writes one, sent to the envelope sender of the failed message.</summary>
    private static string Dsn(string to, string recipient, string action, string status, string diagnostic) => $"""
        Return-Path: <>
        From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
        To: {to}
        Subject: Undelivered Mail Returned to Sender
        Message-ID: <{Guid.NewGuid():N}@mx.example.org>
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

        --dsn
        Content-Type: text/plain; charset=us-ascii

        This is the mail system at host mx.example.org. I'm sorry to have to inform you that your message could not be delivered.

        --dsn
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.org
        Arrival-Date: Tue,  1 Dec 2026 09:00:00 +0100 (CET)

        Final-Recipient: rfc822; {recipient}
        Original-Recipient: rfc822;{recipient}
        Action: {action}
        Status: {status}
        Remote-MTA: dns; mailbox.example.org
        Diagnostic-Code: {diagnostic}

        --dsn
        Content-Type: text/rfc822-headers

        From: Field Notes <notes@localhost>
        To: {recipient}
        Subject: Ledgers, leases and the 40 ms stall

        --dsn--
        """;
}
