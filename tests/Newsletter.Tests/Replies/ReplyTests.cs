using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Replies;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Replies;

/// <summary>Readers write back: the reply is kept in the right conversation, answered by email and, with consent, shown on the site.</summary>
public class ReplyTests
{
    private const string Secret = "inbound-secret-for-reply-tests-0123456789";

    [Fact]
    public async Task AReplyPipedToProcessInboundLandsInTheThreadOfItsIssueAndReaderOnce()
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var _ = smtp;
        using var __ = app;
        var original = smtp.Messages().Single(m => m.EnvelopeTo == "reader0001@example.org").Message;
        var reply = $"From: Reader One <reader0001@example.org>\r\nTo: {original.From}\r\nSubject: Re: {original.Subject}\r\nMessage-ID: <reply-1@mail.example.org>\r\nIn-Reply-To: <{original.MessageId}>\r\nReferences: <{original.MessageId}>\r\nDate: Wed, 2 Dec 2026 09:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe lease part made me rethink our retries.\r\n\r\nOn Tue, 1 Dec 2026, Field Notes wrote:\r\n> Hello readers.\r\n> A link and a table\r\n";

        var first = await PipeAsync(app, reply);
        var again = await PipeAsync(app, reply);

        Assert.Contains("Reply: a reply kept in thread", first, StringComparison.Ordinal);
        Assert.Contains("already kept", again, StringComparison.Ordinal);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var reader = await db.Subscribers.SingleAsync(s => s.EmailKey == "reader0001@example.org", Ct);
        var thread = await db.ReplyThreads.Include(t => t.Messages).SingleAsync(Ct);
        Assert.Equal(reader.Id, thread.SubscriberId);
        Assert.Equal(issueId, thread.IssueId);
        Assert.Equal("Ledgers, leases and the 40 ms stall", thread.Subject);
        var message = Assert.Single(thread.Messages);
        Assert.Equal("pipe", message.Source);
        Assert.Null(message.ReadAt);
        var segments = ReplyText.Segments(message.Text);
        Assert.Equal("The lease part made me rethink our retries.", segments[0].Text);
        Assert.True(segments[1].Quoted);
        Assert.StartsWith("On Tue, 1 Dec 2026, Field Notes wrote:", segments[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostileRepliesAreKeptAsTextInTheSendersOwnThreadOnly()
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var _ = smtp;
        using var __ = app;
        var victimCopy = smtp.Messages().Single(m => m.EnvelopeTo == "reader0002@example.org").Message;
        await PostAsync(app, $"From: reader0002@example.org\r\nSubject: Re: hi\r\nMessage-ID: <victim@example.org>\r\nIn-Reply-To: <{victimCopy.MessageId}>\r\n\r\nMy private thoughts.\r\n");

        // Reader 3 forges an In-Reply-To naming reader 2's copy (and reader 2's own reply): it stays reader 3's conversation.
        var forged = await PostAsync(app, $"From: reader0003@example.org\r\nSubject: Re: hi\r\nMessage-ID: <forged@example.org>\r\nIn-Reply-To: <victim@example.org>\r\nReferences: <{victimCopy.MessageId}> <victim@example.org>\r\n\r\nLet me in.\r\n");
        Assert.Contains("\"kind\":\"Reply\"", forged, StringComparison.Ordinal);

        // A stranger, an HTML-only reply with script, a subject that smuggles a line break, and a huge body.
        await PostAsync(app, "From: Stranger <stranger@example.com>\r\nSubject: =?utf-8?q?Hello=0D=0ABcc:_victim@example.org?=\r\nMessage-ID: <html@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Nice <b>issue</b><script>alert(1)</script><img src=\"https://tracker.example/p.gif\" onerror=\"alert(2)\"></p><blockquote>old text</blockquote>\r\n");
        var huge = string.Join("\r\n", Enumerable.Repeat(new string('a', 900), 200));
        await PostAsync(app, $"From: reader0004@example.org\r\nSubject: long\r\nMessage-ID: <huge@example.org>\r\n\r\n{huge}\r\n");

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var victimThread = await db.ReplyThreads.Include(t => t.Messages).SingleAsync(t => t.AddressKey == "reader0002@example.org", Ct);
        Assert.Equal(["victim@example.org"], victimThread.Messages.Select(m => m.MessageKey));
        var forgerThread = await db.ReplyThreads.Include(t => t.Messages).SingleAsync(t => t.AddressKey == "reader0003@example.org", Ct);
        Assert.Equal(["forged@example.org"], forgerThread.Messages.Select(m => m.MessageKey));
        Assert.Equal(issueId, forgerThread.IssueId);

        var stranger = await db.ReplyThreads.Include(t => t.Messages).SingleAsync(t => t.AddressKey == "stranger@example.com", Ct);
        Assert.Null(stranger.SubscriberId);
        var html = Assert.Single(stranger.Messages);
        Assert.DoesNotContain('\n', html.Subject);
        Assert.DoesNotContain('\r', html.Subject);
        Assert.EndsWith("Bcc: victim@example.org", html.Subject, StringComparison.Ordinal);
        Assert.DoesNotContain("<", html.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("alert", html.Text, StringComparison.Ordinal);
        Assert.Contains("Nice issue", html.Text, StringComparison.Ordinal);
        Assert.Contains("> old text", html.Text, StringComparison.Ordinal);
        Assert.Contains("HTML", html.Note, StringComparison.Ordinal);

        var long_ = await db.ReplyMessages.SingleAsync(m => m.MessageKey == "huge@example.org", Ct);
        Assert.Equal(ReplyInbox.MaxTextChars, long_.Text.Length);
        Assert.Contains("cut at 64 KB", long_.Note, StringComparison.Ordinal);

        // The inbox page shows the stranger as unknown and renders no markup of theirs.
        using var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var inbox = await author.GetStringAsync("/admin/replies", Ct);
        Assert.Contains("unknown reader", inbox, StringComparison.Ordinal);
        var page = await author.GetStringAsync($"/admin/replies/{stranger.Id}", Ct);
        Assert.DoesNotContain("<script>alert", page, StringComparison.Ordinal);
        Assert.DoesNotContain("tracker.example", page, StringComparison.Ordinal);
        Assert.Contains("<details class=\"reply-quote\">", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnImapMessageIsStoredOnceAcrossARestartAndTwoNodesAndABounceOverImapIsHandled()
    {
        await using var dovecot = await DovecotServer.StartAsync(idle: false);
        using var data = new NewsletterApp();
        var readers = await AddReadersAsync(data, 2);
        var settings = data.SecondNode(dovecot.AppSettings());

        await dovecot.AppendAsync(Reply("reader0000@example.org", "<imap-1@example.org>", "First over IMAP."));
        using (var node = new NewsletterApp(settings))
        {
            _ = node.Server;
            await WaitForAsync(data, db => db.ReplyMessages.CountAsync(Ct), 1, node);
        }

        // While it is down, another reply and one without a Message-ID arrive; after the restart, two nodes read the same folder.
        await dovecot.AppendAsync(Reply("reader0001@example.org", "<imap-2@example.org>", "Second over IMAP."));
        await dovecot.AppendAsync(Reply("stranger@example.net", null, "No id at all."));
        using var nodeA = new NewsletterApp(settings);
        using var nodeB = new NewsletterApp(settings);
        _ = nodeA.Server;
        _ = nodeB.Server;
        await WaitForAsync(data, db => db.ReplyMessages.CountAsync(Ct), 3, nodeA);
        await dovecot.AppendAsync(Reply("reader0001@example.org", "<imap-3@example.org>", "Third, while both listen."));
        await WaitForAsync(data, db => db.ReplyMessages.CountAsync(Ct), 4, nodeA);
        await WaitForAsync(data, db => db.InboundCursors.Select(c => (int)c.LastUid).SingleAsync(Ct), 4, nodeA);

        await using var scope = data.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var messages = await db.ReplyMessages.AsNoTracking().ToListAsync(Ct);
        Assert.Equal(4, messages.Count);
        Assert.All(messages, m => Assert.Equal("imap", m.Source));
        Assert.Single(messages, m => m.MessageKey == "imap-1@example.org");
        Assert.Single(messages, m => m.MessageKey.StartsWith("sha256:", StringComparison.Ordinal));
        Assert.Equal(readers[1], (await db.ReplyThreads.SingleAsync(t => t.AddressKey == "reader0001@example.org", Ct)).SubscriberId);
        Assert.Equal(4, await dovecot.SeenCountAsync());
    }

    [Fact]
    public async Task ABounceArrivingOverImapGoesToTheBounceHandlingNotTheInbox()
    {
        await using var dovecot = await DovecotServer.StartAsync();
        var smtp = await SmtpServer.StartAsync();
        await using var _ = smtp;
        using var app = new NewsletterApp(Settings(smtp, new(dovecot.AppSettings()) { ["Sending:BounceDomain"] = "bounces.example.net" }));
        await AddReadersAsync(app, 2);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        var verp = smtp.Messages().Single(m => m.EnvelopeTo == "reader0001@example.org").EnvelopeFrom;

        await dovecot.AppendAsync(MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(Dsn(verp, "reader0001@example.org"))), Ct));
        await WaitForAsync(app, db => db.Subscribers.CountAsync(s => s.Status == Newsletter.Web.Subscribers.SubscriberStatus.Bounced, Ct), 1, app);

        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<AppDbContext>().ReplyMessages.CountAsync(Ct));
    }

    [Fact]
    public async Task AnAuthorsAnswerGoesOutThroughSmtpInTheReadersConversation()
    {
        var (app, smtp, _) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var original = smtp.Messages().Single(m => m.EnvelopeTo == "reader0005@example.org").Message;
        await PostAsync(app, $"From: Reader Five <reader0005@example.org>\r\nSubject: Re: {original.Subject}\r\nMessage-ID: <five@example.org>\r\nIn-Reply-To: <{original.MessageId}>\r\nReferences: <{original.MessageId}>\r\n\r\nHow long is your lease?\r\n");
        using var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var threadId = await ThreadIdAsync(app, "reader0005@example.org");
        Assert.Contains("aria-label=\"1 unread\">1</span>", await author.GetStringAsync("/admin", Ct), StringComparison.Ordinal);

        var posted = await Forms.PostAsync(author, $"/admin/replies/{threadId}", new Dictionary<string, string> { ["body"] = "Twenty seconds.\n\nThanks for asking." }, $"/admin/replies/{threadId}?handler=Answer");
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);

        var answer = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.Message.InReplyTo == "five@example.org");
        Assert.Equal("reader0005@example.org", answer.EnvelopeTo);
        Assert.Equal("Re: Ledgers, leases and the 40 ms stall", answer.Message.Subject);
        Assert.Equal([original.MessageId!, "five@example.org"], answer.Message.References);
        Assert.Contains("Twenty seconds.", answer.Message.TextBody, StringComparison.Ordinal);
        await WaitForAsync(app, db => db.ReplyMessages.CountAsync(m => m.AnswerStatus == AnswerStatus.Sent, Ct), 1, app);

        // The reader answers the answer: it joins the same conversation through our answer's Message-ID.
        await PostAsync(app, $"From: reader0005@example.org\r\nSubject: Re: Re: lease\r\nMessage-ID: <five-2@example.org>\r\nIn-Reply-To: <{answer.Message.MessageId}>\r\n\r\nThanks!\r\n");
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(3, await scope.ServiceProvider.GetRequiredService<AppDbContext>().ReplyMessages.CountAsync(m => m.ThreadId == threadId, Ct));
    }

    [Fact]
    public async Task AReplyIsPublishedUnderItsIssueOnlyWithConsentEscapedAndWithoutTheAddress()
    {
        var (app, smtp, issueId) = await SentIssueAsync();
        await using var __ = smtp;
        using var ___ = app;
        var original = smtp.Messages().Single(m => m.EnvelopeTo == "reader0006@example.org").Message;
        await PostAsync(app, $"From: Reader Six <reader0006@example.org>\r\nSubject: Re: x\r\nMessage-ID: <six@example.org>\r\nIn-Reply-To: <{original.MessageId}>\r\n\r\nGreat issue <script>alert('x')</script>\r\n\r\n> quoted\r\n");
        using var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var threadId = await ThreadIdAsync(app, "reader0006@example.org");
        long messageId;
        string slug;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            messageId = await db.ReplyMessages.Where(m => m.MessageKey == "six@example.org").Select(m => m.Id).SingleAsync(Ct);
            slug = await db.Issues.Where(i => i.Id == issueId).Select(i => i.Slug).SingleAsync(Ct);
        }

        var fields = new Dictionary<string, string> { ["messageId"] = messageId.ToString(System.Globalization.CultureInfo.InvariantCulture), ["name"] = "Six", ["text"] = "Great issue <script>alert('x')</script>" };
        await Forms.PostAsync(author, $"/admin/replies/{threadId}", fields, $"/admin/replies/{threadId}?handler=Publish");
        var before = await app.CreateClient().GetStringAsync($"/issues/{slug}", Ct);
        Assert.DoesNotContain("Great issue", before, StringComparison.Ordinal);

        fields["consent"] = "true";
        fields["consentHow"] = "said yes in a second email";
        await Forms.PostAsync(author, $"/admin/replies/{threadId}", fields, $"/admin/replies/{threadId}?handler=Publish");
        var after = await app.CreateClient().GetStringAsync($"/issues/{slug}", Ct);
        Assert.Contains("Great issue &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", after, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>alert", after, StringComparison.Ordinal);
        Assert.Contains("Six", after, StringComparison.Ordinal);
        Assert.DoesNotContain("reader0006", after, StringComparison.Ordinal);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var row = await scope.ServiceProvider.GetRequiredService<AppDbContext>().ReplyMessages.SingleAsync(m => m.Id == messageId, Ct);
            Assert.Equal("said yes in a second email", row.ConsentHow);
            Assert.NotNull(row.ConsentAt);
            Assert.False(string.IsNullOrEmpty(row.ConsentBy));
        }

        await Forms.PostAsync(author, $"/admin/replies/{threadId}", new Dictionary<string, string> { ["messageId"] = fields["messageId"] }, $"/admin/replies/{threadId}?handler=Unpublish");
        Assert.DoesNotContain("Great issue", await app.CreateClient().GetStringAsync($"/issues/{slug}", Ct), StringComparison.Ordinal);

        // Published again and on the cached page, then the reader is erased: the page no longer shows their words.
        await Forms.PostAsync(author, $"/admin/replies/{threadId}", fields, $"/admin/replies/{threadId}?handler=Publish");
        Assert.Contains("Great issue", await app.CreateClient().GetStringAsync($"/issues/{slug}", Ct), StringComparison.Ordinal);
        Assert.Contains("Great issue", await app.CreateClient().GetStringAsync($"/issues/{slug}", Ct), StringComparison.Ordinal);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var sp = scope.ServiceProvider;
            var readerId = await sp.GetRequiredService<AppDbContext>().Subscribers.Where(r => r.Email == "reader0006@example.org").Select(r => r.Id).SingleAsync(Ct);
            Assert.True(await sp.GetRequiredService<Newsletter.Web.Subscribers.ReaderLifecycle>().DeleteAsync(readerId, erase: true, Ct));
        }

        var erased = await app.CreateClient().GetStringAsync($"/issues/{slug}", Ct);
        Assert.DoesNotContain("Great issue", erased, StringComparison.Ordinal);
        Assert.DoesNotContain(">Six<", erased, StringComparison.Ordinal);
    }

    /// <summary>An answer is mail from the newsletter, and a published comment speaks for a reader: a writer does neither.</summary>
    [Fact]
    public async Task AWriterReadsAConversationButNeitherAnswersNorPublishesIt()
    {
        using var app = new NewsletterApp(new() { ["Sending:InboundSecret"] = Secret });
        await PostAsync(app, "From: Reader Nine <reader9@example.org>\r\nSubject: Re: lease\r\nMessage-ID: <nine@example.org>\r\n\r\nHow long is your lease?\r\n");
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);
        var writer = await Newsletter.Tests.Admin.AuthorTestClients.CoAuthorAsync(app, owner, "wren@example.org", "Writer");
        var threadId = await ThreadIdAsync(app, "reader9@example.org");
        var url = $"/admin/replies/{threadId}";

        var page = await writer.GetStringAsync(url, Ct);
        Assert.Contains("an owner or editor sends them", WebUtility.HtmlDecode(page), StringComparison.Ordinal);
        Assert.DoesNotContain("handler=Answer", page, StringComparison.Ordinal);
        long messageId;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            messageId = await scope.ServiceProvider.GetRequiredService<AppDbContext>().ReplyMessages.Where(m => m.ThreadId == threadId).Select(m => m.Id).SingleAsync(Ct);
            // Reading is not answering: the reply stays unread for the author who has to answer it.
            Assert.Null(await scope.ServiceProvider.GetRequiredService<AppDbContext>().ReplyMessages.Where(m => m.Id == messageId).Select(m => m.ReadAt).SingleAsync(Ct));
        }

        var answer = await Forms.PostAsync(writer, url, new Dictionary<string, string> { ["body"] = "Send me your password." }, url + "?handler=Answer");
        var publish = await Forms.PostAsync(writer, url, new Dictionary<string, string>
        {
            ["messageId"] = messageId.ToString(System.Globalization.CultureInfo.InvariantCulture), ["name"] = "Nine", ["text"] = "Words never written", ["consent"] = "true", ["consentHow"] = "made up",
        }, url + "?handler=Publish");
        Assert.Equal((HttpStatusCode.Forbidden, HttpStatusCode.Forbidden), (answer.StatusCode, publish.StatusCode));

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.Equal(1, await db.ReplyMessages.CountAsync(m => m.ThreadId == threadId, Ct));
            Assert.Null((await db.ReplyMessages.SingleAsync(m => m.Id == messageId, Ct)).CommentText);
        }

        // The owner still answers, and opening the conversation marks it read for them.
        Assert.Equal(HttpStatusCode.Redirect, (await Forms.PostAsync(owner, url, new Dictionary<string, string> { ["body"] = "Twenty seconds." }, url + "?handler=Answer")).StatusCode);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.NotNull(await scope.ServiceProvider.GetRequiredService<AppDbContext>().ReplyMessages.Where(m => m.Id == messageId).Select(m => m.ReadAt).SingleAsync(Ct));
        }
    }

    private static MimeMessage Reply(string from, string? messageId, string text)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse("notes@localhost"));
        message.Subject = "Re: your issue";
        message.Body = new TextPart("plain") { Text = text };
        message.Headers.Remove(HeaderId.MessageId);
        if (messageId is not null)
        {
            message.Headers.Add(HeaderId.MessageId, messageId);
        }

        return message;
    }

    private static async Task<long> ThreadIdAsync(NewsletterApp app, string address)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().ReplyThreads.Where(t => t.AddressKey == address).Select(t => t.Id).SingleAsync(Ct);
    }

    private static async Task WaitForAsync(NewsletterApp data, Func<AppDbContext, Task<int>> count, int expected, NewsletterApp logs)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var seen = 0;
        while (DateTime.UtcNow < deadline)
        {
            await using var scope = data.Services.CreateAsyncScope();
            seen = await count(scope.ServiceProvider.GetRequiredService<AppDbContext>());
            if (seen >= expected)
            {
                return;
            }

            await Task.Delay(200, Ct);
        }

        throw new TimeoutException($"Expected {expected}, saw {seen}. Server log:\n{logs.ServerLog}");
    }

    private static async Task<(NewsletterApp App, SmtpServer Smtp, int IssueId)> SentIssueAsync()
    {
        var smtp = await SmtpServer.StartAsync();
        var app = new NewsletterApp(Settings(smtp, new() { ["Sending:InboundSecret"] = Secret, ["Mail:FromAddress"] = "notes@field-notes.example" }));
        await AddReadersAsync(app, 8);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        return (app, smtp, issueId);
    }

    private static async Task<string> PostAsync(NewsletterApp app, string raw)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/inbound") { Content = new StringContent(raw, Encoding.UTF8, "message/rfc822") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Secret);
        var response = await app.CreateClient().SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return body;
    }

    /// <summary>The way Postfix's pipe(8) runs it: the built app, one message on stdin, the same configuration.</summary>
    private static async Task<string> PipeAsync(NewsletterApp app, string raw)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.dll"), "process-inbound"])
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
        info.Environment["Mail__FromAddress"] = "notes@field-notes.example";
        if (app.PostgresConnectionString is { } postgres)
        {
            info.Environment["Database__Provider"] = "PostgreSql";
            info.Environment["Database__ConnectionString"] = postgres;
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        await process.StandardInput.WriteAsync(raw);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync(Ct);
        var errors = await process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.True(process.ExitCode == 0, errors);
        return output;
    }

    private static string Dsn(string to, string recipient) => $"""
        Return-Path: <>
        From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
        To: {to}
        Subject: Undelivered Mail Returned to Sender
        Message-ID: <{Guid.NewGuid():N}@mx.example.org>
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

        --dsn
        Content-Type: text/plain; charset=us-ascii

        I'm sorry to have to inform you that your message could not be delivered.

        --dsn
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.org

        Final-Recipient: rfc822; {recipient}
        Action: failed
        Status: 5.1.1
        Diagnostic-Code: smtp; 550 5.1.1 User unknown

        --dsn--
        """.ReplaceLineEndings("\r\n");
}
