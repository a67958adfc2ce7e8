using MimeKit;

namespace Newsletter.Mail.Tests;

public class MessageFactoryTests
{
    [Fact]
    public void BuildsMultipartAlternativeWithTextFirstThenHtml()
    {
        var message = TestMail.Build();

        var body = Assert.IsType<MultipartAlternative>(message.Body);
        Assert.Equal(2, body.Count);
        Assert.Equal("text/plain", body[0].ContentType.MimeType);
        Assert.Equal("text/html", body[1].ContentType.MimeType);
        Assert.Equal("Systems should fail visibly.", message.TextBody);
        Assert.Contains("<strong>fail visibly</strong>", message.HtmlBody, StringComparison.Ordinal);
    }

    [Fact]
    public void SetsSenderRecipientSubjectDateAndStableMessageId()
    {
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        var message = TestMail.Build();

        Assert.Equal("\"Field Notes\" <notes@field-notes.example>", message.From.ToString());
        Assert.Equal("\"Ann Reader\" <reader@example.org>", message.To.ToString());
        Assert.Equal("Issue 12: Failing visibly", message.Subject);
        Assert.Equal("issue-12.sub-345@field-notes.example", message.MessageId);
        Assert.Equal("<issue-12.sub-345@field-notes.example>", message.Headers[HeaderId.MessageId]);
        Assert.InRange(message.Date, before, DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public void AcceptsAMessageIdInAngleBrackets()
    {
        var message = TestMail.Build(TestMail.Issue() with { MessageId = "<issue-1.sub-2@example.org>" });
        Assert.Equal("issue-1.sub-2@example.org", message.MessageId);
    }

    [Fact]
    public void GeneratesAMessageIdOnTheSenderDomainWhenNoneIsGiven()
    {
        var message = TestMail.Build(TestMail.Issue() with { MessageId = null });
        Assert.EndsWith("@field-notes.example", message.MessageId, StringComparison.Ordinal);
    }

    [Fact]
    public void AddsListHeadersForOneClickUnsubscribe()
    {
        var message = TestMail.Build();

        Assert.Equal("<https://field-notes.example/unsubscribe/tok345>, <mailto:notes@field-notes.example?subject=unsubscribe%20tok345>", message.Headers["List-Unsubscribe"]);
        Assert.Equal("List-Unsubscribe=One-Click", message.Headers["List-Unsubscribe-Post"]);
        Assert.Equal("Field Notes <field-notes.field-notes.example>", message.Headers["List-Id"]);
        Assert.Equal("bulk", message.Headers["Precedence"]);
        Assert.Equal("auto-generated", message.Headers["Auto-Submitted"]);
    }

    [Fact]
    public void LeavesOutListHeadersForTransactionalMail()
    {
        var message = TestMail.Build(TestMail.Issue() with { ListUnsubscribeUrl = null, ListUnsubscribeMailto = null, ListId = null, Bulk = false });

        Assert.Null(message.Headers["List-Unsubscribe"]);
        Assert.Null(message.Headers["List-Unsubscribe-Post"]);
        Assert.Null(message.Headers["List-Id"]);
        Assert.Null(message.Headers["Precedence"]);
    }

    [Fact]
    public void OmitsListUnsubscribePostWithoutAnHttpsUrl()
    {
        var message = TestMail.Build(TestMail.Issue() with { ListUnsubscribeUrl = null });

        Assert.Equal("<mailto:notes@field-notes.example?subject=unsubscribe%20tok345>", message.Headers["List-Unsubscribe"]);
        Assert.Null(message.Headers["List-Unsubscribe-Post"]);
    }

    [Fact]
    public void AcceptsAListIdWithoutAName()
    {
        var message = TestMail.Build(TestMail.Issue() with { ListId = "field-notes.example" });
        Assert.Equal("<field-notes.example>", message.Headers["List-Id"]);
    }

    [Fact]
    public void PutsTheVerpAddressInTheEnvelopeNotInAReturnPathHeader()
    {
        var outgoing = TestMail.Issue();
        var message = MessageFactory.Build(outgoing, TestMail.Options());

        Assert.Null(message.Headers[HeaderId.ReturnPath]);
        Assert.Equal("bounce+345-ab12cd34@bounces.field-notes.example", MessageFactory.EnvelopeFrom(outgoing, TestMail.Options()).Address);
        Assert.Equal("notes@field-notes.example", MessageFactory.EnvelopeFrom(outgoing with { ReturnPath = null }, TestMail.Options()).Address);
    }

    [Fact]
    public void AddsReplyToFromOptions()
    {
        var options = TestMail.Options();
        options.ReplyTo = "Maren <maren@example.org>";
        var message = MessageFactory.Build(TestMail.Issue(), options);
        Assert.Equal("\"Maren\" <maren@example.org>", message.ReplyTo.ToString());
    }

    [Theory]
    [InlineData("Hello\r\nBcc: victim@example.org")]
    [InlineData("Hello\nBcc: victim@example.org")]
    [InlineData("Hello\rBcc: victim@example.org")]
    public void RefusesALineBreakInTheSubject(string subject)
    {
        var e = Assert.Throws<ArgumentException>(() => TestMail.Build(TestMail.Issue() with { Subject = subject }));
        Assert.Contains("subject contains a line break", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesALineBreakInTheRecipientsName()
    {
        var e = Assert.Throws<ArgumentException>(() => TestMail.Build(TestMail.Issue() with { ToName = "Ann\r\nBcc: victim@example.org" }));
        Assert.Contains("recipient's name contains a line break", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesALineBreakInTheSendersName()
    {
        var options = TestMail.Options();
        options.FromName = "Field Notes\r\nBcc: victim@example.org";
        var e = Assert.Throws<ArgumentException>(() => MessageFactory.Build(TestMail.Issue(), options));
        Assert.Contains("sender's name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesLineBreaksInListHeaders()
    {
        Assert.Throws<ArgumentException>(() => TestMail.Build(TestMail.Issue() with { ListUnsubscribeUrl = "https://x.example/u\r\nBcc: v@example.org" }));
        Assert.Throws<ArgumentException>(() => TestMail.Build(TestMail.Issue() with { ListId = "Notes\r\n <notes.example.org>" }));
    }

    [Fact]
    public void RefusesAnInvalidRecipientAddress()
    {
        var e = Assert.Throws<ArgumentException>(() => TestMail.Build(TestMail.Issue() with { ToAddress = "victim@example.org>\r\nBcc: x@example.org" }));
        Assert.Contains("recipient's address", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesAnUnsubscribeUrlThatIsNotHttp()
    {
        Assert.Throws<ArgumentException>(() => TestMail.Build(TestMail.Issue() with { ListUnsubscribeUrl = "javascript:alert(1)" }));
        Assert.Throws<ArgumentException>(() => TestMail.Build(TestMail.Issue() with { ListUnsubscribeMailto = "https://example.org" }));
    }

    [Fact]
    public void EncodesANonAsciiSubjectAndNameInsteadOfBreakingTheHeader()
    {
        var message = TestMail.Build(TestMail.Issue() with { Subject = "Über Zuverlässigkeit — Teil 2", ToName = "Jörg Müller" });
        var raw = TestMail.Raw(message);

        Assert.Contains("Subject: =?utf-8?", raw, StringComparison.Ordinal);
        var parsed = TestMail.Parse(raw);
        Assert.Equal("Über Zuverlässigkeit — Teil 2", parsed.Subject);
        Assert.Equal("Jörg Müller", parsed.To.Mailboxes.Single().Name);
    }

    [Fact]
    public void FoldsALongSubjectWithoutLosingIt()
    {
        var subject = string.Join(' ', Enumerable.Repeat("reliability", 30));
        var message = TestMail.Build(TestMail.Issue() with { Subject = subject });
        var raw = TestMail.Raw(message);
        var subjectLines = raw.Split('\n').SkipWhile(l => !l.StartsWith("Subject:", StringComparison.Ordinal)).Skip(1).TakeWhile(l => l.StartsWith(' ') || l.StartsWith('\t')).Count();

        Assert.True(subjectLines > 0, "a subject over 78 characters is folded");
        Assert.Equal(subject, TestMail.Parse(raw).Subject);
    }

    [Theory]
    [InlineData(EncodingConstraint.EightBit, ContentEncoding.EightBit)]
    [InlineData(EncodingConstraint.None, ContentEncoding.EightBit)]
    [InlineData(EncodingConstraint.SevenBit, ContentEncoding.Default)]
    public void AKnownEightBitEncodingIsKeptWhereTheWireTakesItAndReplacedWhereItDoesNot(EncodingConstraint wire, ContentEncoding expected)
    {
        var message = TestMail.Build(TestMail.Issue() with { Text = "Grüße — “ok”", Html = "<p>Grüße</p>", TextEncoding = ContentEncoding.EightBit, HtmlEncoding = ContentEncoding.EightBit });

        message.Prepare(wire, 998);

        // Default stands for "whichever 7-bit encoding MimeKit picks": quoted-printable or base64.
        Assert.All(message.BodyParts.OfType<TextPart>(), p => Assert.Contains(p.ContentTransferEncoding,
            expected == ContentEncoding.Default ? [ContentEncoding.QuotedPrintable, ContentEncoding.Base64] : new[] { expected }));
        Assert.Equal("Grüße — “ok”", TestMail.Parse(TestMail.Raw(message)).TextBody!.Trim());
    }

    [Fact]
    public void WithoutAKnownEncodingMimeKitChoosesAsForAnyMessage()
    {
        var message = TestMail.Build(TestMail.Issue() with { Text = "Grüße" });

        message.Prepare(EncodingConstraint.SevenBit, 998);

        Assert.Contains(message.BodyParts.OfType<TextPart>().Single(p => !p.IsHtml).ContentTransferEncoding, new[] { ContentEncoding.QuotedPrintable, ContentEncoding.Base64 });
    }

    /// <summary>The bytes a part writes, with the wire's CRLF line ends, as SmtpClient asks for them.</summary>
    private static byte[] Wire(MimeEntity part, bool async = false)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        using var stream = new MemoryStream();
        if (async)
        {
            part.WriteToAsync(options, stream, TestContext.Current.CancellationToken).GetAwaiter().GetResult();
        }
        else
        {
            part.WriteTo(options, stream, TestContext.Current.CancellationToken);
        }

        return stream.ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void APartWhoseContentIsAlreadyCrlfWritesTheSameBytesAsMimeKitsOwnPath(bool async)
    {
        var text = "Grüße — “ok”\r\n\r\n.a line that starts with a dot\r\nFrom the middle\r\nlast line without an end"u8.ToArray();
        var html = "<p>Grüße</p>\r\n<p>zwei</p>\r\n"u8.ToArray();
        var message = TestMail.Build(TestMail.Issue() with { TextUtf8 = text, HtmlUtf8 = html, TextEncoding = ContentEncoding.EightBit, HtmlEncoding = ContentEncoding.EightBit });

        foreach (var part in message.BodyParts.OfType<TextPart>())
        {
            // MimeKit's own TextPart, built the same way: its output is what the wire must carry.
            var reference = new TextPart(part.ContentType.MediaSubtype)
            {
                Content = new MimeContent(new MemoryStream(part.IsHtml ? html : text, writable: false)),
                ContentTransferEncoding = ContentEncoding.EightBit,
            };
            reference.ContentType.Charset = "utf-8";
            Assert.Equal(Wire(reference), Wire(part, async));
        }
    }

    [Theory]
    [InlineData("first\r\nsecond\nthird\r\n")]
    [InlineData("\nfirst\r\nsecond\r\n")] // the very first byte
    [InlineData("first\r\nsecond\r\nthird\n")] // the very last
    [InlineData("first\r\r\nsecond\n\nthird")] // a CR that ends no line, two LFs in a row
    public void AContentWithABareLineFeedStillReachesTheWireWithCrlfOnly(string content)
    {
        var text = System.Text.Encoding.ASCII.GetBytes(content);
        var message = TestMail.Build(TestMail.Issue() with { TextUtf8 = text, TextEncoding = ContentEncoding.SevenBit });

        var wire = Wire(message.BodyParts.OfType<TextPart>().Single(p => !p.IsHtml));

        var body = System.Text.Encoding.ASCII.GetString(wire);
        Assert.EndsWith(System.Text.RegularExpressions.Regex.Replace(content, "(?<!\r)\n", "\r\n"), body, StringComparison.Ordinal);
        Assert.DoesNotMatch("[^\r]\n", body);
    }
}
