using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Cryptography;
using Newsletter.Testing;
using Org.BouncyCastle.Crypto;

namespace Newsletter.Mail.Tests;

public sealed class DkimTests : IDisposable
{
    private const string Domain = "field-notes.example";
    private const string Selector = "mail2026";

    private readonly RSA _key = RSA.Create(2048);

    public void Dispose() => _key.Dispose();

    private DkimMessageSigner Signer() => new(_key.ExportPkcs8PrivateKeyPem(), Domain, Selector);

    /// <summary>Answers DNS's part: the TXT record at mail2026._domainkey.field-notes.example.</summary>
    private sealed class TestKeyLocator(string txtRecord) : DkimPublicKeyLocatorBase
    {
        public List<string> Lookups { get; } = [];

        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default)
        {
            Lookups.Add($"{selector}._domainkey.{domain}");
            return GetPublicKey(txtRecord);
        }

        public override Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            Task.FromResult(LocatePublicKey(methods, domain, selector, cancellationToken));
    }

    private static bool Verify(MimeMessage message, DkimMessageSigner signer, out TestKeyLocator locator)
    {
        locator = new TestKeyLocator(signer.DnsRecord());
        var verifier = new DkimVerifier(locator);
        var signature = message.Headers[message.Headers.IndexOf(HeaderId.DkimSignature)];
        return verifier.Verify(message, signature);
    }

    private static bool Verify(MimeMessage message, DkimMessageSigner signer) => Verify(message, signer, out _);

    /// <summary>The message's bytes as MailKit sends a signed message.</summary>
    private static byte[] Wire(MimeMessage message)
    {
        using var stream = new MemoryStream();
        message.WriteTo(DkimMessageSigner.Wire, stream);
        return stream.ToArray();
    }

    /// <summary>Parses the wire bytes back, as the receiving end does.</summary>
    private static MimeMessage Received(MimeMessage message) => MimeMessage.Load(new MemoryStream(Wire(message)), TestContext.Current.CancellationToken);

    private static MimeMessage Parse(string raw) => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(raw)), TestContext.Current.CancellationToken);

    private static string Tag(MimeMessage m, string tag) =>
        Regex.Match(Regex.Replace(m.Headers[HeaderId.DkimSignature]!, @"\s+", ""), $"(?:^|;){tag}=([^;]*)").Groups[1].Value;

    [Fact]
    public void ASignedMessageVerifiesWithTheDomainsPublicKey()
    {
        using var signer = Signer();
        var message = TestMail.Build(TestMail.Issue() with { Subject = "Über Zuverlässigkeit", Html = "<p>Grüße</p>" });

        signer.Sign(message);

        Assert.True(Verify(message, signer, out var locator));
        Assert.Equal(["mail2026._domainkey.field-notes.example"], locator.Lookups);
        Assert.Equal(Domain, Tag(message, "d"));
        Assert.Equal(Selector, Tag(message, "s"));
        Assert.Equal("rsa-sha256", Tag(message, "a"));
        Assert.Equal("relaxed/relaxed", Tag(message, "c"));
        var signed = Tag(message, "h").Split(':');
        Assert.Contains("list-unsubscribe", signed);
        Assert.Contains("list-unsubscribe-post", signed);
        Assert.Contains("from", signed);
        Assert.Contains("message-id", signed);
        Assert.True(Verify(Received(message), signer));
    }

    [Fact]
    public void TheSignatureHeaderIsFoldedWithinSeventyEightColumnsAndComesFirst()
    {
        using var signer = Signer();
        var message = TestMail.Build();

        signer.Sign(message);

        var raw = Encoding.ASCII.GetString(Wire(message));
        Assert.StartsWith("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;", raw, StringComparison.Ordinal);
        var lines = raw.Split("\r\n");
        var header = lines.TakeWhile((l, i) => i == 0 || l.StartsWith(' ')).ToList();
        Assert.True(header.Count >= 4, raw);
        Assert.All(header, l => Assert.True(l.Length <= 78, $"{l.Length} columns: {l}"));
        Assert.All(header.Skip(1), l => Assert.Matches(@"^ \S", l));
        Assert.Equal(344, Tag(message, "b").Length); // 2048 bits in base64
    }

    [Fact]
    public void TheSignedSizeIsTheSizeOnTheWire()
    {
        using var signer = Signer();
        var message = TestMail.Build(TestMail.Issue() with { Html = "<p>Grüße " + new string('x', 3000) + "</p>" });

        var size = signer.SignAndMeasure(message, EncodingConstraint.EightBit);

        Assert.Equal(Wire(message).Length, size);
    }

    [Fact]
    public void VariedMessagesVerifyWithMimeKitAndWithDkimpy()
    {
        using var signer = Signer();
        var folder = RepoPaths.TempDir("dkim-varied");
        var files = new List<string>();
        foreach (var (name, message, constraint) in VariedMessages())
        {
            signer.Sign(message, constraint);
            Assert.True(Verify(message, signer), name);
            Assert.True(Verify(Received(message), signer), name + " (as received)");
            var file = Path.Combine(folder, name + ".eml");
            File.WriteAllBytes(file, Wire(message));
            files.Add(file);
        }

        // The same verifier says no to a changed body and to a key it was not given.
        var tampered = Path.Combine(folder, "tampered.eml");
        File.WriteAllText(tampered, File.ReadAllText(files[0]).Replace("fail visibly", "fail quietly", StringComparison.Ordinal));
        files.Add(tampered);
        var verdicts = DkimPy.Verify(Domain, Selector, signer.DnsRecord(), files);
        Assert.All(verdicts.SkipLast(1), v => Assert.StartsWith("pass ", v, StringComparison.Ordinal));
        Assert.StartsWith("fail ", verdicts[^1], StringComparison.Ordinal);
        using var otherKey = new DkimMessageSigner(RSA.Create(2048).ExportPkcs8PrivateKeyPem(), Domain, Selector);
        Assert.StartsWith("fail ", DkimPy.Verify(Domain, Selector, otherKey.DnsRecord(), [files[0]])[0], StringComparison.Ordinal);
    }

    private static IEnumerable<(string Name, MimeMessage Message, EncodingConstraint Constraint)> VariedMessages()
    {
        yield return ("issue-7bit", TestMail.Build(), EncodingConstraint.SevenBit);

        var utf8 = TestMail.Issue() with
        {
            Subject = "Über „Zuverlässigkeit“ — Teil 2",
            ToName = "Zoë Ångström",
            Html = "<p>Grüße aus Köln — “smart quotes” and ünïcödé.</p>\n<p>Zweite Zeile.</p>",
            Text = "Grüße aus Köln — “smart quotes”.\n\nZweite Zeile.",
        };
        var eightBit = TestMail.Build(utf8);
        yield return ("utf8-8bit", eightBit, EncodingConstraint.EightBit);
        yield return ("utf8-7bit", TestMail.Build(utf8), EncodingConstraint.SevenBit);

        // Lines longer than any relay would pass whole, and one with no space to fold at.
        yield return ("long-lines", TestMail.Build(TestMail.Issue() with
        {
            Html = "<p>" + string.Concat(Enumerable.Repeat("word ", 700)) + "</p><p>" + new string('x', 3000) + "</p>",
            Text = string.Concat(Enumerable.Repeat("word ", 700)),
        }), EncodingConstraint.EightBit);

        // Whitespace the relaxed rules change: runs of spaces and tabs, whitespace before line ends, trailing
        // blank and whitespace-only lines; written as they are (a known 7bit part with CRLF line ends).
        yield return ("whitespace", TestMail.Build(TestMail.Issue() with
        {
            TextUtf8 = "a  b\t\tc   \r\n \t indented\r\n\r\ntrailing \t\r\n\r\n   \r\n\t\r\n\r\n"u8.ToArray(),
            TextEncoding = ContentEncoding.SevenBit,
            HtmlUtf8 = "<p>x</p>  \r\n\r\n\r\n"u8.ToArray(),
            HtmlEncoding = ContentEncoding.SevenBit,
        }), EncodingConstraint.EightBit);

        // Headers with folding and odd whitespace, as a message someone else wrote might carry them.
        yield return ("odd-headers", Parse(
            "From:   Field Notes   <notes@field-notes.example>\r\n"
            + "To: reader@example.org\r\n"
            + "SUBJECT:\t Hello \t  world  \r\n"
            + "   folded\tcontinuation   \r\n"
            + "\tand more\r\n"
            + "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
            + "Message-ID: <odd@field-notes.example>\r\n"
            + "MIME-Version: 1.0\r\n"
            + "Content-Type: text/plain;\r\n\tcharset=utf-8\r\n"
            + "X-Unsigned: whatever\r\n"
            + "\r\n"
            + "Body  with\tspaces   \r\n\r\n\r\n"), EncodingConstraint.EightBit);

        // Mixed: an alternative part and a base64 attachment; and a body that doesn't end with a line break.
        var mixed = TestMail.Build();
        var attachment = new MimePart("application", "octet-stream")
        {
            Content = new MimeContent(new MemoryStream([.. Enumerable.Range(0, 3000).Select(i => (byte)(i * 7))])),
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) { FileName = "data.bin" },
        };
        mixed.Body = new Multipart("mixed") { mixed.Body!, attachment };
        yield return ("multipart-mixed", mixed, EncodingConstraint.SevenBit);
        yield return ("no-final-newline", Parse("From: notes@field-notes.example\r\nTo: a@example.org\r\nSubject: x\r\n\r\nno line end"), EncodingConstraint.EightBit);
    }

    [Fact]
    public void AnEightBitPartStaysEightBitForARelayThatTakesEightBitAndIsReEncodedForOneThatDoesNot()
    {
        using var signer = Signer();
        var utf8 = TestMail.Issue() with { Html = "<p>Grüße — “quoted”.</p>", Text = "Grüße — “quoted”." };
        var eight = TestMail.Build(utf8);
        var seven = TestMail.Build(utf8);

        signer.Sign(eight, EncodingConstraint.EightBit);
        signer.Sign(seven, EncodingConstraint.SevenBit);

        Assert.Contains(eight.BodyParts.OfType<MimePart>(), p => p.ContentTransferEncoding == ContentEncoding.EightBit);
        Assert.All(seven.BodyParts.OfType<MimePart>(), p => Assert.NotEqual(ContentEncoding.EightBit, p.ContentTransferEncoding));
        Assert.True(Verify(eight, signer));
        Assert.True(Verify(seven, signer));
        Assert.Contains("Grüße — “quoted”.", Encoding.UTF8.GetString(Wire(eight)), StringComparison.Ordinal);
    }

    [Fact]
    public void ASignatureBreaksWhenTheBodyOrASignedHeaderChangesButNotForAnUnsignedHeader()
    {
        using var signer = Signer();
        var message = TestMail.Build();
        signer.Sign(message);
        var raw = Encoding.UTF8.GetString(Wire(message));
        Assert.True(Verify(Parse(raw), signer));

        string Changed(string from, string to)
        {
            Assert.Contains(from, raw, StringComparison.Ordinal);
            return raw.Replace(from, to, StringComparison.Ordinal);
        }

        var broken = new Dictionary<string, string>
        {
            ["body"] = Changed("fail visibly", "fail quietly"),
            ["body, one character"] = Changed("Systems should fail visibly.", "Systems should fail visibly!"),
            ["body, a line added"] = Changed("Systems should fail visibly.", "Systems should fail visibly.\r\nP.S. Click here."),
            ["subject"] = Changed("Subject: Issue 12", "Subject: Issue 13"),
            ["from"] = Changed("From: Field Notes <notes@", "From: Field Notes <news@"),
            ["to"] = Changed("To: Ann Reader <reader@", "To: Ann Reader <other@"),
            ["message-id"] = Changed("issue-12.sub-345@", "issue-12.sub-346@"),
            ["list-unsubscribe"] = Changed("unsubscribe/tok345>", "unsubscribe/tok999>"),
            ["a signed header that was absent"] = Changed("Subject: ", "Reply-To: evil@example.org\r\nSubject: "),
        };
        foreach (var (what, text) in broken)
        {
            Assert.False(Verify(Parse(text), signer), what);
        }

        // Relaxed canonicalisation forgives what relays do to whitespace; an unsigned header may be added on the way.
        Assert.True(Verify(Parse(Changed("Systems should fail visibly.", "Systems  should\tfail visibly.   ")), signer));
        Assert.True(Verify(Parse(Changed("Subject: Issue 12", "Subject:   Issue\t 12")), signer));
        Assert.True(Verify(Parse("Received: from relay.example by mx.example\r\n" + raw), signer));
    }

    [Fact]
    public void AHeaderValueCannotSmuggleALineIntoTheSignedMessage()
    {
        using var signer = Signer();
        var built = TestMail.Build();
        built.Headers.Add(new Header("X-Note", "fine\r\nBcc: evil@example.org"));

        // MimeKit folds such a value into one field; either way no Bcc line may reach the wire signed.
        try
        {
            signer.Sign(built);
            var raw = Encoding.UTF8.GetString(Wire(built));
            Assert.DoesNotMatch(@"(?m)^Bcc:", raw);
            Assert.True(Verify(Parse(raw), signer));
        }
        catch (ArgumentException)
        {
        }

        var raw2 = TestMail.Build();
        var header = new Header("X-Note", "placeholder");
        header.SetRawValue(" fine\r\nBcc: evil@example.org\r\n"u8.ToArray());
        raw2.Headers.Add(header);
        var e = Assert.Throws<ArgumentException>(() => signer.Sign(raw2));
        Assert.Contains("line break", e.Message, StringComparison.Ordinal);

        var bareLf = TestMail.Build();
        var lf = new Header("X-Note", "placeholder");
        lf.SetRawValue(" fine\nBcc: evil@example.org\n"u8.ToArray());
        bareLf.Headers.Add(lf);
        Assert.Throws<ArgumentException>(() => signer.Sign(bareLf));

        // And a domain or selector that would add a tag of its own is refused when the signer is made.
        Assert.Throws<ArgumentException>(() => new DkimMessageSigner(_key.ExportPkcs8PrivateKeyPem(), "field-notes.example; l=0", Selector));
        Assert.Throws<ArgumentException>(() => new DkimMessageSigner(_key.ExportPkcs8PrivateKeyPem(), Domain, "s1 b=x"));
    }

    [Fact]
    public void SigningAgainReplacesTheSignatureInsteadOfAddingOne()
    {
        using var signer = Signer();
        var message = TestMail.Build(TestMail.Issue() with { Html = "<p>Grüße</p>" });

        signer.Sign(message, EncodingConstraint.EightBit);
        signer.Sign(message, EncodingConstraint.SevenBit);

        Assert.Single(message.Headers, h => h.Id == HeaderId.DkimSignature);
        Assert.True(Verify(message, signer));
        Assert.True(Verify(Received(message), signer));
    }

    [Fact]
    public void SignsConcurrentlyFromManyThreads()
    {
        using var signer = Signer();
        var messages = Enumerable.Range(0, 40).Select(i => TestMail.Build(TestMail.Issue($"r{i}@example.org", i))).ToList();

        Parallel.ForEach(messages, m => signer.Sign(m));

        Assert.All(messages, m => Assert.True(Verify(m, signer)));
    }

    [Fact]
    public void TheBodyHashIsMimeKitsAndMimeKitsSignatureVerifiesWithTheSameKey()
    {
        using var signer = Signer();
        var raw = TestMail.Raw(TestMail.Build(TestMail.Issue() with { Text = "Trailing  \t spaces  \n\n\n", Html = "<p>x</p>\n\n  \n" }));
        var ours = TestMail.Parse(raw);
        var theirs = TestMail.Parse(raw);
        signer.Sign(ours);

        using var pem = new MemoryStream(Encoding.ASCII.GetBytes(_key.ExportPkcs8PrivateKeyPem()));
        var mimeKit = new DkimSigner(pem, Domain, Selector)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        theirs.Prepare(EncodingConstraint.SevenBit);
        mimeKit.Sign(theirs, [.. DkimMessageSigner.SignedHeaders]);

        Assert.Equal(Tag(theirs, "bh"), Tag(ours, "bh"));
        Assert.Equal(Tag(theirs, "h"), Tag(ours, "h"));
        Assert.True(Verify(theirs, signer));
        Assert.True(Verify(ours, signer));
    }

    [Fact]
    public void RelaxedBodyCanonicalisationFollowsTheRfcInAnyChunking()
    {
        var random = new Random(6376);
        byte[] alphabet = [(byte)'a', (byte)'b', (byte)' ', (byte)' ', (byte)'\t', (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n', 0xC3, 0xA9, (byte)'.'];
        using var hasher = new RelaxedBodyHasher();
        for (var round = 0; round < 3000; round++)
        {
            var length = round < 2500 ? random.Next(0, 80) : random.Next(0, 40_000);
            var body = new byte[length];
            for (var i = 0; i < length; i++)
            {
                // Long bodies are mostly text, so the vector path runs between the changes.
                body[i] = round >= 2500 && random.Next(10) > 1 ? (byte)('a' + random.Next(26)) : alphabet[random.Next(alphabet.Length)];
            }

            var rest = body.AsSpan();
            while (rest.Length > 0)
            {
                var take = Math.Min(rest.Length, random.Next(3) == 0 ? 1 : random.Next(1, 5000));
                hasher.Append(rest[..take]);
                rest = rest[take..];
            }

            var expected = Canonical(body);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(expected)), Convert.ToHexString(hasher.Finish()));
        }
    }

    [Fact]
    public void AnEmptyBodyAndOneOfBlankLinesHashAsNothing()
    {
        using var hasher = new RelaxedBodyHasher();
        var empty = Convert.ToBase64String(SHA256.HashData([]));
        Assert.Equal("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", empty);
        Assert.Equal(empty, Convert.ToBase64String(hasher.Finish()));
        hasher.Append("\r\n \r\n\t\r\n"u8);
        Assert.Equal(empty, Convert.ToBase64String(hasher.Finish()));
        hasher.Append("x"u8);
        Assert.Equal(Convert.ToBase64String(SHA256.HashData("x\r\n"u8)), Convert.ToBase64String(hasher.Finish()));
    }

    /// <summary>RFC 6376 3.4.4 read literally, one line at a time: the reference the streaming hasher must match.</summary>
    private static byte[] Canonical(byte[] body)
    {
        var lines = Encoding.Latin1.GetString(body).Split("\r\n").Select(l => Regex.Replace(l, "[ \t]+", " ").TrimEnd(' ')).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return lines.Count == 0 ? [] : Encoding.Latin1.GetBytes(string.Join("\r\n", lines) + "\r\n");
    }

    [Fact]
    public async Task AMessageSignedByTheTransportVerifiesAfterTravellingThroughSmtp()
    {
        var keyFile = Path.Combine(RepoPaths.TempDir("dkim"), "dkim.pem");
        await File.WriteAllTextAsync(keyFile, _key.ExportRSAPrivateKeyPem(), TestContext.Current.CancellationToken);
        await using var server = await SmtpServerFixture.StartAsync();
        var options = TestMail.Options();
        options.Transport = "Smtp";
        options.Smtp = new SmtpOptions { Host = server.Host, Port = server.Port, Security = "None" };
        options.Dkim = new DkimOptions { Enabled = true, Domain = Domain, Selector = Selector, PrivateKeyPath = keyFile };
        await using var transport = MailTransportFactory.Create(options, NullLoggerFactory.Instance);

        Assert.IsType<DkimSigningTransport>(transport);
        var html = "<p>" + new string('x', 2000) + " Grüße — “quoted”</p>";
        await using (var session = await transport.OpenSessionAsync(TestContext.Current.CancellationToken))
        {
            var result = await session.SendAsync(TestMail.Build(TestMail.Issue() with { Html = "<p>Grüße — “quoted”</p>" }), null, TestContext.Current.CancellationToken);
            Assert.Equal(SendOutcome.Sent, result.Outcome);
            var again = session.Send(TestMail.Build(TestMail.Issue("other@example.org", 346) with { Html = html }), null, TestContext.Current.CancellationToken);
            Assert.Equal(SendOutcome.Sent, again.Outcome);
        }

        Assert.Equal(SendOutcome.Sent, (await transport.SendAsync(TestMail.Build(TestMail.Issue("third@example.org", 347)), null, TestContext.Current.CancellationToken)).Outcome);

        var received = await server.WaitForMessagesAsync(3);
        using var signer = Signer();
        Assert.All(received, r => Assert.True(Verify(r.Message, signer)));
        // The server offers 8BITMIME, so the UTF-8 part went as it was written, not re-encoded for signing.
        Assert.Contains(received[0].Message.BodyParts.OfType<MimePart>(), p => p.ContentTransferEncoding == ContentEncoding.EightBit);
        var verdicts = DkimPy.Verify(Domain, Selector, signer.DnsRecord(), [.. received.Select(r => r.File)]);
        Assert.All(verdicts, v => Assert.StartsWith("pass ", v, StringComparison.Ordinal));
    }

    [Fact]
    public void MissingDkimSettingsAreAClearStartupError()
    {
        var options = new DkimOptions { Enabled = true, Domain = Domain, Selector = "" };
        var e = Assert.Throws<SettingsException>(() => DkimMessageSigner.Create(options));
        Assert.Contains("Mail:Dkim:Selector", e.Message, StringComparison.Ordinal);

        options = new DkimOptions { Enabled = true, Domain = Domain, Selector = "s", PrivateKeyPath = "/nonexistent/dkim.pem" };
        e = Assert.Throws<SettingsException>(() => DkimMessageSigner.Create(options));
        Assert.Contains("/nonexistent/dkim.pem", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileWithoutAPrivateKeyIsAClearStartupError()
    {
        var keyFile = Path.Combine(RepoPaths.TempDir("dkim"), "public.pem");
        File.WriteAllText(keyFile, _key.ExportSubjectPublicKeyInfoPem());
        var options = new DkimOptions { Enabled = true, Domain = Domain, Selector = "s", PrivateKeyPath = keyFile };

        var e = Assert.Throws<SettingsException>(() => DkimMessageSigner.Create(options));
        Assert.Contains("does not hold an RSA private key", e.Message, StringComparison.Ordinal);

        File.WriteAllText(keyFile, _key.ExportRSAPrivateKeyPem());
        Assert.Throws<SettingsException>(() => DkimMessageSigner.Create(new DkimOptions { Enabled = true, Domain = Domain, Selector = "s;x", PrivateKeyPath = keyFile }));
        using var fromPkcs1 = DkimMessageSigner.Create(options);
        Assert.Equal("s", fromPkcs1.Selector);
    }
}
