using System.Security.Cryptography;
using MimeKit;
using Newsletter.Testing;
using Newsletter.Web.Issues;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Sending;

public sealed class DkimSendingTests
{
    private const string Domain = "field-notes.example";
    private const string Selector = "mail2026";

    [Fact]
    public async Task EveryReadersCopyOfAnIssueSentWithDkimPassesAnIndependentVerifier()
    {
        using var rsa = RSA.Create(2048);
        var key = Path.Combine(RepoPaths.TempDir("dkim"), "dkim.pem");
        // PKCS#1 ("BEGIN RSA PRIVATE KEY"), as opendkim-genkey writes it; the signer tests cover PKCS#8.
        await File.WriteAllTextAsync(key, rsa.ExportRSAPrivateKeyPem(), Ct);
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new()
        {
            ["Mail:Dkim:Enabled"] = "true",
            ["Mail:Dkim:Domain"] = Domain,
            ["Mail:Dkim:Selector"] = Selector,
            ["Mail:Dkim:PrivateKeyPath"] = key,
        }));
        await AddReadersAsync(app, 12);
        var issueId = await AddIssueAsync(app, "Zuverlässigkeit — “fail visibly”, then fix it");
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var received = smtp.Messages();
        Assert.Equal(12, received.Count);
        var record = $"v=DKIM1; k=rsa; p={Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo())}";
        var verdicts = DkimPy.Verify(Domain, Selector, record, [.. received.Select(r => r.File)]);
        Assert.All(verdicts, v => Assert.StartsWith("pass ", v, StringComparison.Ordinal));

        var first = received[0].Message;
        var signature = first.Headers[HeaderId.DkimSignature]!.Replace(" ", "", StringComparison.Ordinal);
        Assert.Contains("d=field-notes.example;", signature, StringComparison.Ordinal);
        Assert.Contains("list-unsubscribe:list-unsubscribe-post", signature, StringComparison.Ordinal);
        // The test server offers 8BITMIME: the UTF-8 issue goes as written, not re-encoded for signing.
        Assert.Contains(first.BodyParts.OfType<MimePart>(), p => p.ContentTransferEncoding == ContentEncoding.EightBit);

        // A reader's copy changed on the way, or another reader's unsubscribe link swapped in, fails.
        var tampered = Path.Combine(RepoPaths.TempDir("dkim"), "tampered.eml");
        var text = await File.ReadAllTextAsync(received[0].File, Ct);
        var token = System.Text.RegularExpressions.Regex.Match(text, "/unsubscribe/([^>\\s]+)>").Groups[1].Value;
        var other = System.Text.RegularExpressions.Regex.Match(await File.ReadAllTextAsync(received[1].File, Ct), "/unsubscribe/([^>\\s]+)>").Groups[1].Value;
        Assert.NotEqual(token, other);
        await File.WriteAllTextAsync(tampered, text.Replace(token + ">", other + ">", StringComparison.Ordinal), Ct);
        Assert.StartsWith("fail ", DkimPy.Verify(Domain, Selector, record, [tampered])[0], StringComparison.Ordinal);
    }
}
