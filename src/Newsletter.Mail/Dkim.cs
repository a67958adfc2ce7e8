using System.Collections.Concurrent;
using System.Security.Cryptography;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Newsletter.Mail;

/// <summary>
/// Signs messages with DKIM (RFC 6376, rsa-sha256, relaxed/relaxed). MimeKit builds the canonical headers
/// and body hash; the RSA signature itself is made by .NET's System.Security.Cryptography (OpenSSL on
/// Linux) instead of MimeKit's default, managed BouncyCastle RSA, which signs only a few dozen messages a
/// second per core. MimeKit lets a <see cref="DkimSigner"/> subclass supply the signing context
/// (<c>CreateSigningContext</c>, a BouncyCastle <see cref="ISigner"/>); ours hashes with
/// <see cref="IncrementalHash"/> and signs with <see cref="RSA.SignHash(byte[], HashAlgorithmName, RSASignaturePadding)"/>.
/// Thread-safe: concurrent workers sign with keys from a small pool, since one RSA object is not
/// guaranteed safe to share.
/// </summary>
public sealed class DkimMessageSigner : IDisposable
{
    /// <summary>
    /// The headers covered by the signature. From is required by RFC 6376; List-Unsubscribe and
    /// List-Unsubscribe-Post must be signed for one-click unsubscribe to count (RFC 8058 section 4).
    /// Headers a message lacks are skipped.
    /// </summary>
    public static IReadOnlyList<HeaderId> SignedHeaders { get; } =
    [
        HeaderId.From, HeaderId.To, HeaderId.Subject, HeaderId.Date, HeaderId.MessageId, HeaderId.ReplyTo,
        HeaderId.ListUnsubscribe, HeaderId.ListUnsubscribePost, HeaderId.ListId, HeaderId.MimeVersion, HeaderId.ContentType,
    ];

    private readonly Signer _signer;
    private readonly RsaPool _keys;

    /// <summary>Creates a signer from an RSA private key in PEM (PKCS#1 or PKCS#8).</summary>
    /// <exception cref="ArgumentException">The PEM holds no RSA private key, or the domain or selector is empty.</exception>
    public DkimMessageSigner(string privateKeyPem, string domain, string selector)
    {
        if (string.IsNullOrWhiteSpace(domain) || string.IsNullOrWhiteSpace(selector))
        {
            throw new ArgumentException("DKIM needs a domain (d=) and a selector (s=).");
        }

        _keys = new RsaPool(privateKeyPem);
        Domain = domain.Trim().ToLowerInvariant();
        Selector = selector.Trim();
        using var pem = new MemoryStream(System.Text.Encoding.ASCII.GetBytes(privateKeyPem));
        _signer = new Signer(pem, Domain, Selector, _keys)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
    }

    /// <summary>The signing domain (d=).</summary>
    public string Domain { get; }

    /// <summary>The selector (s=).</summary>
    public string Selector { get; }

    /// <summary>Creates the signer from configuration, reading the key file.</summary>
    /// <exception cref="InvalidOperationException">A setting is missing or the key file can't be read; the message says which.</exception>
    public static DkimMessageSigner Create(DkimOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Domain) || string.IsNullOrWhiteSpace(options.Selector) || string.IsNullOrWhiteSpace(options.PrivateKeyPath))
        {
            throw new InvalidOperationException("Mail:Dkim:Enabled is true, so Mail:Dkim:Domain, Mail:Dkim:Selector and Mail:Dkim:PrivateKeyPath must all be set.");
        }

        if (!File.Exists(options.PrivateKeyPath))
        {
            throw new InvalidOperationException($"Mail:Dkim:PrivateKeyPath '{options.PrivateKeyPath}' does not exist.");
        }

        try
        {
            return new DkimMessageSigner(File.ReadAllText(options.PrivateKeyPath), options.Domain, options.Selector);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException or FormatException)
        {
            throw new InvalidOperationException($"Mail:Dkim:PrivateKeyPath '{options.PrivateKeyPath}' does not hold an RSA private key in PEM: {e.Message}", e);
        }
    }

    /// <summary>
    /// Signs <paramref name="message"/> in place, replacing any earlier DKIM-Signature (a retried message
    /// is signed again, not twice). The body is first prepared for a 7-bit transport, so no server can make
    /// MailKit re-encode it after signing, which would break the body hash.
    /// </summary>
    public void Sign(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Headers.RemoveAll(HeaderId.DkimSignature);
        message.Prepare(EncodingConstraint.SevenBit);
        _signer.Sign(message, [.. SignedHeaders]);
    }

    /// <summary>The DNS TXT record that publishes this key at <c>selector._domainkey.domain</c>.</summary>
    public string DnsRecord() => $"v=DKIM1; k=rsa; p={_keys.PublicKeyBase64}";

    /// <inheritdoc />
    public void Dispose() => _keys.Dispose();

    /// <summary>MimeKit's signer with the signing context swapped for .NET RSA.</summary>
    private sealed class Signer(Stream pem, string domain, string selector, RsaPool keys)
        : DkimSigner(pem, domain, selector, DkimSignatureAlgorithm.RsaSha256)
    {
        protected override ISigner CreateSigningContext() => new RsaSha256Signer(keys);
    }

    /// <summary>A BouncyCastle <see cref="ISigner"/> whose hash and RSA are .NET's.</summary>
    private sealed class RsaSha256Signer(RsaPool keys) : ISigner
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public string AlgorithmName => "SHA-256withRSA";

        public void Init(bool forSigning, ICipherParameters parameters)
        {
            if (!forSigning)
            {
                throw new NotSupportedException("This signer only signs.");
            }
        }

        public void Update(byte input) => _hash.AppendData([input]);

        public void BlockUpdate(byte[] input, int inOff, int inLen) => _hash.AppendData(input, inOff, inLen);

        public void BlockUpdate(ReadOnlySpan<byte> input) => _hash.AppendData(input);

        public int GetMaxSignatureSize() => keys.SignatureSize;

        public byte[] GenerateSignature()
        {
            var digest = _hash.GetHashAndReset();
            _hash.Dispose();
            var rsa = keys.Rent();
            try
            {
                return rsa.SignHash(digest, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            }
            finally
            {
                keys.Return(rsa);
            }
        }

        public bool VerifySignature(byte[] signature) => throw new NotSupportedException("This signer only signs.");

        public void Reset() => _hash.GetHashAndReset();
    }

    /// <summary>RSA objects holding the key, one per concurrent signer, reused.</summary>
    private sealed class RsaPool : IDisposable
    {
        private readonly string _pem;
        private readonly ConcurrentBag<RSA> _idle = [];

        public RsaPool(string pem)
        {
            _pem = pem;
            var first = Import();
            SignatureSize = first.KeySize / 8;
            PublicKeyBase64 = Convert.ToBase64String(first.ExportSubjectPublicKeyInfo());
            _idle.Add(first);
        }

        public int SignatureSize { get; }

        public string PublicKeyBase64 { get; }

        public RSA Rent() => _idle.TryTake(out var rsa) ? rsa : Import();

        public void Return(RSA rsa) => _idle.Add(rsa);

        public void Dispose()
        {
            while (_idle.TryTake(out var rsa))
            {
                rsa.Dispose();
            }
        }

        private RSA Import()
        {
            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(_pem);
            }
            catch
            {
                rsa.Dispose();
                throw;
            }

            if (rsa.KeySize < 1024)
            {
                rsa.Dispose();
                throw new ArgumentException("The DKIM key is shorter than 1024 bits; receivers ignore such signatures (RFC 8301). Use 2048.");
            }

            return rsa;
        }
    }
}

/// <summary>Signs every message with DKIM, then hands it to the real transport.</summary>
public sealed class DkimSigningTransport(IMailTransport inner, DkimMessageSigner signer) : IMailTransport
{
    /// <summary>The transport that delivers the signed messages.</summary>
    public IMailTransport Inner => inner;

    /// <inheritdoc />
    public Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
    {
        signer.Sign(message);
        return inner.SendAsync(message, envelopeFrom, ct);
    }

    /// <inheritdoc />
    public async Task<IMailSession> OpenSessionAsync(CancellationToken ct) => new Session(await inner.OpenSessionAsync(ct), signer);

    /// <inheritdoc />
    public IMailSession OpenSession() => new Session(inner.OpenSession(), signer);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        signer.Dispose();
    }

    private sealed class Session(IMailSession inner, DkimMessageSigner signer) : IMailSession
    {
        public Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
        {
            signer.Sign(message);
            return inner.SendAsync(message, envelopeFrom, ct);
        }

        public SendResult Send(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
        {
            signer.Sign(message);
            return inner.Send(message, envelopeFrom, ct);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        public void Dispose() => inner.Dispose();
    }
}
