using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>
/// Signs messages with DKIM (RFC 6376, rsa-sha256, relaxed/relaxed) over the bytes that go on the wire. The
/// message is written once, as MailKit will send it, into a stream that keeps the header block and feeds the body
/// through relaxed canonicalisation straight into SHA-256 (<see cref="RelaxedBodyHasher"/>); the signed header
/// fields are read back from those written bytes, so what is signed is what a verifier reads. The RSA signature
/// is .NET's (OpenSSL on Linux). MimeKit's own <c>DkimSigner</c> canonicalised the body through a chain of
/// byte-by-byte filters and BouncyCastle types on every message.
/// </summary>
/// <remarks>
/// Thread-safe: each thread keeps its own hashing buffers, and concurrent signers take keys from a small pool,
/// since one RSA object is not guaranteed safe to share.
/// </remarks>
public sealed class DkimMessageSigner : IDisposable
{
    /// <summary>
    /// The headers covered by the signature. From is required by RFC 6376; List-Unsubscribe and
    /// List-Unsubscribe-Post must be signed for one-click unsubscribe to count (RFC 8058 section 4).
    /// All are named in h=, present or not: a header the message lacks is signed as absent, so nobody can add it
    /// on the way without breaking the signature.
    /// </summary>
    public static IReadOnlyList<HeaderId> SignedHeaders { get; } =
    [
        HeaderId.From, HeaderId.To, HeaderId.Subject, HeaderId.Date, HeaderId.MessageId, HeaderId.ReplyTo,
        HeaderId.ListUnsubscribe, HeaderId.ListUnsubscribePost, HeaderId.ListId, HeaderId.MimeVersion, HeaderId.ContentType,
    ];

    private const int LineLength = 78;

    /// <summary>
    /// How MailKit writes a message that carries a DKIM-Signature: CRLF line ends, a final line end, no
    /// SMTPUTF8 reformatting of addresses, and no <see cref="MimeMessage.Prepare"/> of its own. So the bytes
    /// hashed here are the bytes it sends.
    /// </summary>
    internal static readonly FormatOptions Wire = CreateWire();

    private static readonly string[] SignedNames = [.. SignedHeaders.Select(h => h.ToHeaderName().ToLowerInvariant())];
    private static readonly byte[][] SignedNameBytes = [.. SignedNames.Select(Encoding.ASCII.GetBytes)];
    private static readonly byte[] SignatureField = "DKIM-Signature"u8.ToArray();

    [ThreadStatic]
    private static Scratch? t_scratch;

    private readonly RsaPool _keys;
    private readonly TimeProvider _clock;

    /// <summary>Creates a signer from an RSA private key in PEM (PKCS#1 or PKCS#8).</summary>
    /// <exception cref="ArgumentException">The PEM holds no RSA private key, or the domain or selector is empty or not a DNS name.</exception>
    public DkimMessageSigner(string privateKeyPem, string domain, string selector)
        : this(privateKeyPem, domain, selector, TimeProvider.System)
    {
    }

    internal DkimMessageSigner(string privateKeyPem, string domain, string selector, TimeProvider clock)
    {
        if (string.IsNullOrWhiteSpace(domain) || string.IsNullOrWhiteSpace(selector))
        {
            throw new ArgumentException("DKIM needs a domain (d=) and a selector (s=).");
        }

        Domain = DnsName(domain.Trim().ToLowerInvariant(), "domain (d=)");
        Selector = DnsName(selector.Trim(), "selector (s=)");
        _keys = new RsaPool(privateKeyPem);
        _clock = clock;
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
            throw new SettingsException("Mail:Dkim:Enabled is true, so Mail:Dkim:Domain, Mail:Dkim:Selector and Mail:Dkim:PrivateKeyPath must all be set.");
        }

        if (!File.Exists(options.PrivateKeyPath))
        {
            throw new SettingsException($"Mail:Dkim:PrivateKeyPath '{options.PrivateKeyPath}' does not exist.");
        }

        string pem;
        try
        {
            pem = File.ReadAllText(options.PrivateKeyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"Mail:Dkim:PrivateKeyPath '{options.PrivateKeyPath}' can't be read: {e.Message}", e);
        }

        if (!IsDnsName(options.Domain.Trim()) || !IsDnsName(options.Selector.Trim()))
        {
            throw new SettingsException($"Mail:Dkim:Domain '{options.Domain}' and Mail:Dkim:Selector '{options.Selector}' must be DNS names (letters, digits, '.', '-', '_').");
        }

        try
        {
            return new DkimMessageSigner(pem, options.Domain, options.Selector);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException or FormatException)
        {
            throw new SettingsException($"Mail:Dkim:PrivateKeyPath '{options.PrivateKeyPath}' does not hold an RSA private key in PEM: {e.Message}", e);
        }
    }

    /// <summary>
    /// Signs <paramref name="message"/> in place for a transport that takes only 7-bit data: 8bit parts are
    /// re-encoded first, so no server can re-encode them after signing, which would break the body hash.
    /// </summary>
    public void Sign(MimeMessage message) => Sign(message, EncodingConstraint.SevenBit);

    /// <summary>
    /// Signs <paramref name="message"/> in place, replacing any earlier DKIM-Signature (a retried message is signed
    /// again, not twice). Its parts are first prepared for <paramref name="constraint"/>: with
    /// <see cref="EncodingConstraint.EightBit"/> (the relay offers 8BITMIME) an 8bit part stays 8bit, so it is sent
    /// as written instead of being re-encoded; MailKit then leaves a signed message's encodings alone.
    /// </summary>
    /// <exception cref="ArgumentException">The written header block holds a line that is not a header field (a line break smuggled into a value).</exception>
    public void Sign(MimeMessage message, EncodingConstraint constraint) => SignAndMeasure(message, constraint);

    /// <summary><see cref="Sign(MimeMessage, EncodingConstraint)"/>; returns the signed message's size on the wire.</summary>
    internal long SignAndMeasure(MimeMessage message, EncodingConstraint constraint)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Headers.RemoveAll(HeaderId.DkimSignature);
        message.Prepare(constraint);

        var scratch = t_scratch ??= new Scratch();
        var written = scratch.Writer;
        written.Reset();
        message.WriteTo(Wire, written);
        var bodyHash = written.Finish();

        var block = written.Headers;
        var fields = scratch.Fields;
        Fields(block, fields);
        if (fields.Count != message.Headers.Count + (message.Body?.Headers.Count ?? 0))
        {
            // Every header MimeKit wrote must be one field: more means a raw value held a line break that every
            // receiver would read as a header of its own (a Bcc, a second From), so it is refused, never signed.
            throw new ArgumentException("A header value of the message holds a line break that would start a header field of its own; it is refused, not signed.");
        }

        var canonical = scratch.Canonical;
        canonical.ResetWrittenCount();
        for (var i = 0; i < SignedNameBytes.Length; i++)
        {
            if (Instance(block, fields, SignedNameBytes, i) is { } field)
            {
                RelaxedHeader.Append(block.Slice(field.Start, field.NameLength), block[(field.Start + field.NameLength + 1)..field.End], canonical);
                canonical.Write("\r\n"u8);
            }
        }

        var value = new FoldedValue(SignatureField.Length + 1);
        value.Tag("v=1;");
        value.Tag("a=rsa-sha256;");
        value.Tag("c=relaxed/relaxed;");
        value.Tag($"d={Domain};");
        value.Tag($"s={Selector};");
        value.Tag(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"t={_clock.GetUtcNow().ToUnixTimeSeconds()};"));
        value.List("h=", SignedNames, ';');
        value.Tag($"bh={Convert.ToBase64String(bodyHash)};");
        value.Tag("b=", roomAfter: 8);
        var unsigned = Encoding.ASCII.GetBytes(value.ToString());
        // The signature covers its own header with an empty b= and no line end (RFC 6376 3.7).
        RelaxedHeader.Append(SignatureField, unsigned, canonical);
        value.Run(Convert.ToBase64String(_keys.Sign(canonical.WrittenSpan)));
        var raw = Encoding.ASCII.GetBytes(value + "\r\n");
        message.Headers.Insert(0, new SignatureHeader(raw));
        return written.Total + SignatureField.Length + 1 + raw.Length;
    }

    /// <summary>The DNS TXT record that publishes this key at <c>selector._domainkey.domain</c>.</summary>
    public string DnsRecord() => $"v=DKIM1; k=rsa; p={_keys.PublicKeyBase64}";

    /// <inheritdoc />
    public void Dispose() => _keys.Dispose();

    private static FormatOptions CreateWire()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.EnsureNewLine = true;
        format.International = false;
        return format;
    }

    // A name goes into the signature's tag list as it stands: a ';' or a space there would be a tag of its own.
    private static bool IsDnsName(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_') && !name.StartsWith('.') && !name.EndsWith('.');

    private static string DnsName(string name, string what) =>
        IsDnsName(name) ? name : throw new ArgumentException($"The DKIM {what} '{name}' is not a DNS name (letters, digits, '.', '-', '_').");

    /// <summary>One header field in the written block: its name, and its value from after the colon to the end of its last line.</summary>
    private readonly record struct Field(int Start, int NameLength, int End);

    /// <summary>
    /// Splits the written header block into fields: a line that starts with a space or a tab continues the field
    /// above; any other line must be a field name and a colon. A line break inside a value that is not folding
    /// would be read as a header field of its own by every receiver, so it is refused, never signed.
    /// </summary>
    private static void Fields(ReadOnlySpan<byte> block, List<Field> fields)
    {
        fields.Clear();
        var pos = 0;
        while (pos < block.Length)
        {
            var length = block[pos..].IndexOf("\r\n"u8);
            var line = length < 0 ? block[pos..] : block.Slice(pos, length);
            if (length < 0 || line.IndexOfAny((byte)'\r', (byte)'\n') >= 0)
            {
                throw new ArgumentException("The message's headers hold a bare line break; it is refused, not signed.");
            }

            var next = pos + length + 2;
            if (line.Length > 0 && line[0] is (byte)' ' or (byte)'\t')
            {
                if (fields.Count == 0)
                {
                    throw new ArgumentException("The message's header block starts with a continuation line; it is refused, not signed.");
                }

                fields[^1] = fields[^1] with { End = next };
            }
            else
            {
                var colon = line.IndexOf((byte)':');
                var name = colon < 0 ? line : line[..colon].TrimEnd(" \t"u8);
                if (colon <= 0 || name.Length == 0 || name.IndexOfAnyExceptInRange((byte)33, (byte)126) >= 0)
                {
                    throw new ArgumentException($"The message's headers hold a line that is not a header field ('{Encoding.ASCII.GetString(line[..Math.Min(line.Length, 40)])}'): a line break in a header value? It is refused, not signed.");
                }

                fields.Add(new Field(pos, colon, next));
            }

            pos = next;
        }
    }

    /// <summary>
    /// The field that the <paramref name="index"/>th name of h= signs: for a name listed n times, the n-th
    /// instance counted from the bottom of the block (RFC 6376 5.4.2); null when there is none.
    /// </summary>
    private static Field? Instance(ReadOnlySpan<byte> block, List<Field> fields, byte[][] names, int index)
    {
        var name = names[index];
        var skip = 0;
        for (var i = 0; i < index; i++)
        {
            skip += names[i].AsSpan().SequenceEqual(name) ? 1 : 0;
        }

        for (var f = fields.Count - 1; f >= 0; f--)
        {
            var field = fields[f];
            if (Ascii.EqualsIgnoreCase(block.Slice(field.Start, field.NameLength).TrimEnd(" \t"u8), name) && skip-- == 0)
            {
                return field;
            }
        }

        return null;
    }

    /// <summary>Builds the DKIM-Signature value folded at 78 characters: between tags, between header names, inside the base64 of b=.</summary>
    private sealed class FoldedValue(int used)
    {
        private readonly StringBuilder _text = new(512);
        private int _line = used;

        public void Tag(string tag, int roomAfter = 0)
        {
            if (_line + 1 + tag.Length + roomAfter > LineLength)
            {
                _text.Append("\r\n");
                _line = 0;
            }

            _text.Append(' ').Append(tag);
            _line += 1 + tag.Length;
        }

        /// <summary>A tag whose value is a list; folding whitespace is allowed around its separators.</summary>
        public void List(string tag, IReadOnlyList<string> items, char end)
        {
            for (var i = 0; i < items.Count; i++)
            {
                var item = (i == 0 ? tag : "") + items[i] + (i == items.Count - 1 ? end : ':');
                if (i == 0)
                {
                    Tag(item);
                }
                else if (_line + item.Length > LineLength)
                {
                    _text.Append("\r\n ").Append(item);
                    _line = 1 + item.Length;
                }
                else
                {
                    _text.Append(item);
                    _line += item.Length;
                }
            }
        }

        /// <summary>Characters in which folding whitespace may go anywhere (base64, RFC 6376 3.5).</summary>
        public void Run(string text)
        {
            var rest = text.AsSpan();
            while (rest.Length > 0)
            {
                if (_line >= LineLength)
                {
                    _text.Append("\r\n ");
                    _line = 1;
                }

                var take = Math.Min(rest.Length, LineLength - _line);
                _text.Append(rest[..take]);
                _line += take;
                rest = rest[take..];
            }
        }

        public override string ToString() => _text.ToString();
    }

    /// <summary>The DKIM-Signature with the raw value built here, written exactly as it was folded.</summary>
    private sealed class SignatureHeader(byte[] raw)
        : Header(ParserOptions.Default, HeaderId.DkimSignature, "DKIM-Signature", SignatureField, raw);

    /// <summary>A thread's reusable buffers: one message at a time.</summary>
    private sealed class Scratch
    {
        public WrittenMessage Writer { get; } = new();

        public List<Field> Fields { get; } = new(32);

        public ArrayBufferWriter<byte> Canonical { get; } = new(4096);
    }

    /// <summary>
    /// Receives the message as MimeKit writes it: keeps the header block (up to the first empty line, as a
    /// receiver splits it) and streams the body into the relaxed body hash without storing it.
    /// </summary>
    internal sealed class WrittenMessage : Stream
    {
        private byte[] _headers = new byte[8192];
        private int _length;
        private bool _inBody;

        public RelaxedBodyHasher Body { get; } = new();

        /// <summary>Every byte written: the message's size on the wire before its DKIM-Signature.</summary>
        public long Total { get; private set; }

        /// <summary>The header block, each field ending with its CRLF, without the empty line.</summary>
        public ReadOnlySpan<byte> Headers => _headers.AsSpan(0, _length);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Total;

        public override long Position { get => Total; set => throw new NotSupportedException(); }

        public void Reset()
        {
            _length = 0;
            _inBody = false;
            Total = 0;
            Body.Reset();
        }

        /// <summary>The body hash.</summary>
        public byte[] Finish() => Body.Finish();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Total += buffer.Length;
            if (_inBody)
            {
                Body.Append(buffer);
                return;
            }

            if (_length + buffer.Length > _headers.Length)
            {
                Array.Resize(ref _headers, Math.Max(_headers.Length * 2, _length + buffer.Length));
            }

            var from = Math.Max(0, _length - 3);
            buffer.CopyTo(_headers.AsSpan(_length));
            _length += buffer.Length;
            var blank = _headers.AsSpan(from, _length - from).IndexOf("\r\n\r\n"u8);
            if (blank >= 0)
            {
                var end = from + blank + 2;
                _inBody = true;
                Body.Append(_headers.AsSpan(end + 2, _length - end - 2));
                _length = end;
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            // Reused for the thread's next message.
        }
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
            try
            {
                // A public key imports too, and would fail only at the first message.
                first.SignData([], HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            }
            catch (CryptographicException e)
            {
                first.Dispose();
                throw new ArgumentException("The PEM holds no RSA private key.", e);
            }

            PublicKeyBase64 = Convert.ToBase64String(first.ExportSubjectPublicKeyInfo());
            _idle.Add(first);
        }

        public string PublicKeyBase64 { get; }

        /// <summary>RSASSA-PKCS1-v1_5 over the SHA-256 of <paramref name="data"/>.</summary>
        public byte[] Sign(ReadOnlySpan<byte> data)
        {
            var rsa = _idle.TryTake(out var idle) ? idle : Import();
            try
            {
                return rsa.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            }
            finally
            {
                _idle.Add(rsa);
            }
        }

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

/// <summary>
/// Signs every message with DKIM, then hands it to the real transport. Over SMTP the message is signed once the
/// connection is open, for what that server takes: an 8bit part stays 8bit when it offers 8BITMIME.
/// </summary>
public sealed class DkimSigningTransport(IMailTransport inner, DkimMessageSigner signer) : IMailTransport
{
    /// <summary>The transport that delivers the signed messages.</summary>
    public IMailTransport Inner => inner;

    /// <inheritdoc />
    public async Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
    {
        await using var session = await OpenSessionAsync(ct);
        return await session.SendAsync(message, envelopeFrom, ct);
    }

    /// <inheritdoc />
    public async Task<IMailSession> OpenSessionAsync(CancellationToken ct) => new Session(await inner.OpenSessionAsync(ct), signer);

    /// <inheritdoc />
    public IMailSession OpenSession() => new Session(inner.OpenSession(), signer);

    /// <inheritdoc />
    public Task ProbeAsync(CancellationToken ct) => inner.ProbeAsync(ct);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        signer.Dispose();
    }

    private sealed class Session(IMailSession inner, DkimMessageSigner signer) : IMailSession
    {
        private readonly Func<MimeMessage, EncodingConstraint, long> _sign = signer.SignAndMeasure;

        public Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
        {
            if (inner is ISigningSession signing)
            {
                return signing.SendAsync(message, envelopeFrom, _sign, ct);
            }

            signer.Sign(message);
            return inner.SendAsync(message, envelopeFrom, ct);
        }

        public SendResult Send(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
        {
            if (inner is ISigningSession signing)
            {
                return signing.Send(message, envelopeFrom, _sign, ct);
            }

            signer.Sign(message);
            return inner.Send(message, envelopeFrom, ct);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        public void Dispose() => inner.Dispose();
    }
}

/// <summary>
/// A session that lets a signer see each message as its connection will carry it: the signer is called once the
/// connection is open, with the encodings that server takes, and returns the signed message's size.
/// </summary>
internal interface ISigningSession : IMailSession
{
    SendResult Send(MimeMessage message, MailboxAddress? envelopeFrom, Func<MimeMessage, EncodingConstraint, long> sign, CancellationToken ct);

    Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, Func<MimeMessage, EncodingConstraint, long> sign, CancellationToken ct);
}
