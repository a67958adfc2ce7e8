using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Cryptography;
using Newsletter.Testing;
using Org.BouncyCastle.Crypto;

namespace Newsletter.Mail.Tests;

public sealed class DkimTests : IDisposable
{
    private readonly RSA _key = RSA.Create(2048);

    public void Dispose() => _key.Dispose();

    private DkimMessageSigner Signer() => new(_key.ExportPkcs8PrivateKeyPem(), "field-notes.example", "mail2026");

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

    [Fact]
    public void ASignedMessageVerifiesWithTheDomainsPublicKey()
    {
        using var signer = Signer();
        var message = TestMail.Build(TestMail.Issue() with { Subject = "Über Zuverlässigkeit", Html = "<p>Grüße</p>" });

        signer.Sign(message);

        Assert.True(Verify(message, signer, out var locator));
        Assert.Equal(["mail2026._domainkey.field-notes.example"], locator.Lookups);
        var header = message.Headers[HeaderId.DkimSignature]!;
        Assert.Contains("d=field-notes.example", header, StringComparison.Ordinal);
        Assert.Contains("s=mail2026", header, StringComparison.Ordinal);
        Assert.Contains("a=rsa-sha256", header, StringComparison.Ordinal);
        Assert.Contains("c=relaxed/relaxed", header, StringComparison.Ordinal);
        var signed = header.Split("h=")[1].Split(';')[0].Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant().Split(':');
        Assert.Contains("list-unsubscribe", signed);
        Assert.Contains("list-unsubscribe-post", signed);
        Assert.Contains("from", signed);
        Assert.Contains("message-id", signed);
    }

    [Fact]
    public void AChangedBodyOrSubjectNoLongerVerifies()
    {
        using var signer = Signer();
        var message = TestMail.Build();
        signer.Sign(message);
        var raw = TestMail.Raw(message);

        var bodyChanged = TestMail.Parse(raw.Replace("fail visibly", "fail quietly", StringComparison.Ordinal));
        var subjectChanged = TestMail.Parse(raw.Replace("Subject: Issue 12", "Subject: Issue 13", StringComparison.Ordinal));

        Assert.False(Verify(bodyChanged, signer, out _));
        Assert.False(Verify(subjectChanged, signer, out _));
    }

    [Fact]
    public void SigningAgainReplacesTheSignatureInsteadOfAddingOne()
    {
        using var signer = Signer();
        var message = TestMail.Build();

        signer.Sign(message);
        signer.Sign(message);

        Assert.Single(message.Headers, h => h.Id == HeaderId.DkimSignature);
        Assert.True(Verify(message, signer, out _));
    }

    [Fact]
    public void SignsConcurrentlyFromManyThreads()
    {
        using var signer = Signer();
        var messages = Enumerable.Range(0, 40).Select(i => TestMail.Build(TestMail.Issue($"r{i}@example.org", i))).ToList();

        Parallel.ForEach(messages, signer.Sign);

        Assert.All(messages, m => Assert.True(Verify(m, signer, out _)));
    }

    [Fact]
    public void ProducesTheSameSignatureAsMimeKitsOwnSigner()
    {
        using var signer = Signer();
        var raw = TestMail.Raw(TestMail.Build());
        var ours = TestMail.Parse(raw);
        var theirs = TestMail.Parse(raw);
        signer.Sign(ours);

        using var pem = new MemoryStream(System.Text.Encoding.ASCII.GetBytes(_key.ExportPkcs8PrivateKeyPem()));
        var mimeKit = new DkimSigner(pem, "field-notes.example", "mail2026")
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        theirs.Prepare(EncodingConstraint.SevenBit);
        mimeKit.Sign(theirs, [.. DkimMessageSigner.SignedHeaders]);

        // RSA PKCS#1 v1.5 is deterministic: same key, same canonical input, same bytes (t= may differ by a second).
        static string B(MimeMessage m) => m.Headers[HeaderId.DkimSignature]!.Split("b=")[^1].Replace(" ", "", StringComparison.Ordinal).Replace("\t", "", StringComparison.Ordinal).Replace("\r\n", "", StringComparison.Ordinal);
        static string T(MimeMessage m) => m.Headers[HeaderId.DkimSignature]!.Split("t=")[1].Split(';')[0];
        if (T(ours) == T(theirs))
        {
            Assert.Equal(B(theirs), B(ours));
        }

        Assert.True(Verify(theirs, signer, out _));
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
        options.Dkim = new DkimOptions { Enabled = true, Domain = "field-notes.example", Selector = "mail2026", PrivateKeyPath = keyFile };
        await using var transport = MailTransportFactory.Create(options, NullLoggerFactory.Instance);

        Assert.IsType<DkimSigningTransport>(transport);
        await using (var session = await transport.OpenSessionAsync(TestContext.Current.CancellationToken))
        {
            var result = await session.SendAsync(TestMail.Build(TestMail.Issue() with { Html = "<p>" + new string('x', 2000) + " Grüße</p>" }), null, TestContext.Current.CancellationToken);
            Assert.Equal(SendOutcome.Sent, result.Outcome);
        }

        var received = Assert.Single(await server.WaitForMessagesAsync(1)).Message;
        using var signer = Signer();
        Assert.True(Verify(received, signer, out _));
    }

    [Fact]
    public void MissingDkimSettingsAreAClearStartupError()
    {
        var options = new DkimOptions { Enabled = true, Domain = "field-notes.example", Selector = "" };
        var e = Assert.Throws<InvalidOperationException>(() => DkimMessageSigner.Create(options));
        Assert.Contains("Mail:Dkim:Selector", e.Message, StringComparison.Ordinal);

        options = new DkimOptions { Enabled = true, Domain = "field-notes.example", Selector = "s", PrivateKeyPath = "/nonexistent/dkim.pem" };
        e = Assert.Throws<InvalidOperationException>(() => DkimMessageSigner.Create(options));
        Assert.Contains("/nonexistent/dkim.pem", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileWithoutAPrivateKeyIsAClearStartupError()
    {
        var keyFile = Path.Combine(RepoPaths.TempDir("dkim"), "public.pem");
        File.WriteAllText(keyFile, _key.ExportSubjectPublicKeyInfoPem());
        var options = new DkimOptions { Enabled = true, Domain = "field-notes.example", Selector = "s", PrivateKeyPath = keyFile };

        var e = Assert.Throws<InvalidOperationException>(() => DkimMessageSigner.Create(options));
        Assert.Contains("does not hold an RSA private key", e.Message, StringComparison.Ordinal);
    }
}
