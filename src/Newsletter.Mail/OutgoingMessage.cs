using System.Text;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>Everything one recipient's message needs, before it becomes MIME.</summary>
public sealed record OutgoingMessage
{
    /// <summary>The recipient's address; validated (and normalised) again when the message is built.</summary>
    public required string ToAddress { get; init; }

    /// <summary>The recipient's name, if known. CR or LF is refused.</summary>
    public string? ToName { get; init; }

    /// <summary>One line; CR or LF is refused.</summary>
    public required string Subject { get; init; }

    /// <summary>The HTML part (or give <see cref="HtmlUtf8"/>).</summary>
    public string Html { get; init; } = "";

    /// <summary>The plain-text part (or give <see cref="TextUtf8"/>).</summary>
    public string Text { get; init; } = "";

    /// <summary>
    /// The HTML part as UTF-8 bytes, used instead of <see cref="Html"/> when set: a bulk sender fills each
    /// reader's copy straight into bytes, without a UTF-16 string and a second encoding pass per reader.
    /// </summary>
    public byte[]? HtmlUtf8 { get; init; }

    /// <summary>The plain-text part as UTF-8 bytes, used instead of <see cref="Text"/> when set.</summary>
    public byte[]? TextUtf8 { get; init; }

    /// <summary>
    /// The transfer encoding of the HTML part when the caller already knows it (a bulk sender checks its template
    /// once per issue): MimeKit then skips scanning each copy to choose it again. Null: MimeKit chooses.
    /// </summary>
    public ContentEncoding? HtmlEncoding { get; init; }

    /// <summary>The transfer encoding of the plain-text part when known; see <see cref="HtmlEncoding"/>.</summary>
    public ContentEncoding? TextEncoding { get; init; }

    /// <summary>
    /// A stable Message-ID, with or without angle brackets, e.g. <c>issue-12.sub-345@example.org</c>: a resend
    /// after a crash carries the same id, so mail clients fold the duplicate. Generated when null.
    /// </summary>
    public string? MessageId { get; init; }

    /// <summary>The Date header; now when null.</summary>
    public DateTimeOffset? Date { get; init; }

    /// <summary>The https one-click unsubscribe URL (List-Unsubscribe and List-Unsubscribe-Post, RFC 8058).</summary>
    public string? ListUnsubscribeUrl { get; init; }

    /// <summary>A mailto: URI for List-Unsubscribe, e.g. <c>mailto:list@example.org?subject=unsubscribe</c>.</summary>
    public string? ListUnsubscribeMailto { get; init; }

    /// <summary>List-Id (RFC 2919): <c>Field Notes &lt;field-notes.example.org&gt;</c> or just the id.</summary>
    public string? ListId { get; init; }

    /// <summary>Adds Precedence: bulk and Auto-Submitted: auto-generated (no vacation replies) for newsletter issues.</summary>
    public bool Bulk { get; init; }

    /// <summary>
    /// The envelope sender for this recipient, e.g. a VERP address <c>bounce+123-ab12cd34@bounces.example.org</c>
    /// so a bounce names its delivery; the From address when null. See <see cref="MessageFactory.EnvelopeFrom"/>.
    /// </summary>
    public string? ReturnPath { get; init; }
}

/// <summary>
/// Builds MIME messages: multipart/alternative with the text part first and the HTML part last (clients
/// show the last part they can), and headers that can't be injected: a CR or LF in a subject, a name or
/// a list header is an <see cref="ArgumentException"/>, never a new header line.
/// </summary>
/// <remarks>
/// The Return-Path header is not set here. On the wire the envelope sender travels in MAIL FROM
/// (<see cref="IMailSession.SendAsync"/>'s envelopeFrom, from <see cref="EnvelopeFrom"/>) and the receiving
/// server writes Return-Path from it; a message arriving with one already is malformed (RFC 5321 4.4).
/// Only the pickup transport, which plays the receiving server, writes Return-Path into its files.
/// </remarks>
public static class MessageFactory
{
    /// <summary>Builds the message.</summary>
    /// <exception cref="ArgumentException">A header value holds a line break, or an address is invalid.</exception>
    public static MimeMessage Build(OutgoingMessage m, MailOptions options)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(options);
        RejectLineBreaks(m.Subject, "subject");
        RejectLineBreaks(m.ToName, "recipient's name");
        RejectLineBreaks(options.FromName, "sender's name (Mail:FromName)");
        // The header-list constructor: the default one stamps a random Message-ID and the local time,
        // both replaced at once below, and a newsletter builds 100,000 of these per issue.
        var message = new MimeMessage((IEnumerable<Header>)[])
        {
            Subject = m.Subject,
            Date = m.Date ?? DateTimeOffset.UtcNow,
            MessageId = m.MessageId is null ? MimeKit.Utils.MimeUtils.GenerateMessageId(options.MessageDomain) : MessageIdValue(m.MessageId),
        };
        message.From.Add(new MailboxAddress(options.FromName, Address(options.FromAddress, "sender's address (Mail:FromAddress)")));
        message.To.Add(new MailboxAddress(m.ToName ?? "", Address(m.ToAddress, "recipient's address")));
        if (!string.IsNullOrWhiteSpace(options.ReplyTo))
        {
            RejectLineBreaks(options.ReplyTo, "reply-to address (Mail:ReplyTo)");
            if (!MailboxAddress.TryParse(options.ReplyTo, out var replyTo))
            {
                throw new ArgumentException($"Mail:ReplyTo '{options.ReplyTo}' is not an address.", nameof(options));
            }

            message.ReplyTo.Add(new MailboxAddress(replyTo.Name, Address(replyTo.Address, "reply-to address (Mail:ReplyTo)")));
        }

        var unsubscribe = new List<string>();
        if (m.ListUnsubscribeUrl is not null)
        {
            unsubscribe.Add(Uri(m.ListUnsubscribeUrl, "List-Unsubscribe URL", "https", "http"));
        }

        if (m.ListUnsubscribeMailto is not null)
        {
            unsubscribe.Add(Uri(m.ListUnsubscribeMailto, "List-Unsubscribe mailto", "mailto"));
        }

        if (unsubscribe.Count > 0)
        {
            message.Headers.Add("List-Unsubscribe", string.Join(", ", unsubscribe.Select(u => $"<{u}>")));
        }

        if (m.ListUnsubscribeUrl is not null)
        {
            // RFC 8058: the mailbox provider POSTs "List-Unsubscribe=One-Click" to the https URL, with no
            // cookie and no page, so a link scanner's GET never unsubscribes anyone.
            message.Headers.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        }

        if (m.ListId is not null)
        {
            message.Headers.Add(new Header(Encoding.UTF8, "List-Id", ListIdValue(m.ListId)));
        }

        if (m.Bulk)
        {
            message.Headers.Add("Precedence", "bulk");
            message.Headers.Add("Auto-Submitted", "auto-generated");
        }

        message.Body = new MultipartAlternative
        {
            Part("plain", m.Text, m.TextUtf8, m.TextEncoding),
            Part("html", m.Html, m.HtmlUtf8, m.HtmlEncoding),
        };
        return message;
    }

    private static TextPart Part(string subtype, string text, byte[]? utf8, ContentEncoding? known)
    {
        var part = known is { } encoding ? new KnownEncodingPart(subtype, encoding) : new TextPart(subtype);
        if (utf8 is null)
        {
            part.Text = text;
        }
        else if (part is KnownEncodingPart { Known: ContentEncoding.QuotedPrintable } quoted && KnownEncodingPart.HasCrlfLineEnds(utf8))
        {
            // Encoded here, once, and marked as encoded, so MimeKit writes it as it stands.
            var encoded = QuotedPrintable.Encode(utf8);
            part.Content = new MimeContent(new MemoryStream(encoded, writable: false), ContentEncoding.QuotedPrintable);
            part.ContentType.Charset = "utf-8";
            quoted.WireReady(encoded);
        }
        else
        {
            part.Content = new MimeContent(new MemoryStream(utf8, writable: false));
            part.ContentType.Charset = "utf-8";
            if (part is KnownEncodingPart knownPart && KnownEncodingPart.HasCrlfLineEnds(utf8))
            {
                knownPart.WireReady(utf8);
            }
        }

        if (known is { } chosen)
        {
            part.ContentTransferEncoding = chosen;
        }

        return part;
    }

    /// <summary>
    /// A text part whose transfer encoding was chosen by the caller. MimeKit's <see cref="MimePart.Prepare"/> scans
    /// the whole content of a 7bit or 8bit part on every send to choose again (a twelfth of the CPU per message in
    /// the s1 benchmark); this part skips the scan when its encoding already meets the transport's constraint, and
    /// lets MimeKit choose when it does not (8bit to a server without 8BITMIME, DKIM-signed or not).
    /// </summary>
    private sealed class KnownEncodingPart(string subtype, ContentEncoding known) : TextPart(subtype)
    {
        public ContentEncoding Known => known;

        public override void Prepare(EncodingConstraint constraint, int maxLineLength = 78)
        {
            var fits = ContentTransferEncoding == known && known switch
            {
                ContentEncoding.SevenBit or ContentEncoding.QuotedPrintable or ContentEncoding.Base64 => true,
                ContentEncoding.EightBit => constraint is EncodingConstraint.EightBit or EncodingConstraint.None,
                _ => false,
            };
            if (!fits)
            {
                base.Prepare(constraint, maxLineLength);
            }
        }

        private byte[]? _wire;
        private IMimeContent? _wireContent;

        /// <summary>Every LF follows a CR: the bytes are already what goes on the wire, line ends and all.</summary>
        internal static bool HasCrlfLineEnds(byte[] utf8)
        {
            // One pass, from LF to LF (a vectorised search each), instead of counting LFs and then CRLFs: it runs on
            // every reader's copy, and a bare LF ends it early.
            var span = utf8.AsSpan();
            var from = 0;
            int found;
            while ((found = span[from..].IndexOf((byte)'\n')) >= 0)
            {
                var lf = from + found;
                if (lf == 0 || span[lf - 1] != (byte)'\r')
                {
                    return false;
                }

                from = lf + 1;
            }

            return true;
        }

        /// <summary>
        /// Notes that <paramref name="wire"/>, this part's content (as it stands, or quoted-printable encoded by
        /// us), has CRLF line ends. MimeKit then writes it as it stands instead of passing each byte through its
        /// Unix2Dos filter, which returns exactly those bytes and was a tenth of the CPU per message in s1. A bare
        /// LF anywhere (a caller's own text) leaves the part on MimeKit's path: the caller checks first.
        /// </summary>
        internal void WireReady(byte[] wire)
        {
            _wire = wire;
            _wireContent = Content;
        }

        private bool AsItStands(FormatOptions options) =>
            _wire is not null && ReferenceEquals(Content, _wireContent) && options.NewLineFormat == NewLineFormat.Dos
            && ContentTransferEncoding == known && known is ContentEncoding.SevenBit or ContentEncoding.EightBit or ContentEncoding.QuotedPrintable;

        public override void WriteTo(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default)
        {
            if (!AsItStands(options))
            {
                base.WriteTo(options, stream, contentOnly, cancellationToken);
                return;
            }

            if (!contentOnly)
            {
                Headers.WriteTo(options, stream, cancellationToken);
            }

            if (stream is MimeKit.IO.ICancellableStream cancellable)
            {
                cancellable.Write(_wire!, 0, _wire!.Length, cancellationToken);
            }
            else
            {
                cancellationToken.ThrowIfCancellationRequested();
                stream.Write(_wire!, 0, _wire!.Length);
            }
        }

        public override async Task WriteToAsync(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default)
        {
            if (!AsItStands(options))
            {
                await base.WriteToAsync(options, stream, contentOnly, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (!contentOnly)
            {
                await Headers.WriteToAsync(options, stream, cancellationToken).ConfigureAwait(false);
            }

            await stream.WriteAsync(_wire, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The envelope sender (MAIL FROM) for a message built from <paramref name="m"/>: its VERP address or the From address.</summary>
    public static MailboxAddress EnvelopeFrom(OutgoingMessage m, MailOptions options) =>
        new("", m.ReturnPath is null ? options.FromAddress : Address(m.ReturnPath, "envelope sender (ReturnPath)"));

    private static string Address(string address, string what) =>
        EmailAddress.TryNormalize(address, out var normalized, out var error)
            ? normalized
            : throw new ArgumentException($"The {what} '{address}' is not valid: {error}", nameof(address));

    private static string MessageIdValue(string id)
    {
        var value = id.Trim().TrimStart('<').TrimEnd('>');
        var at = value.IndexOf('@');
        if (at <= 0 || at == value.Length - 1 || value.Any(c => c <= ' ' || c > '~' || c is '<' or '>' or '"' or '\\' or '(' or ')' or ',' or ';' or ':' or '[' or ']'))
        {
            throw new ArgumentException($"'{id}' is not a Message-ID (left@right, printable ASCII, no spaces).", nameof(id));
        }

        return value;
    }

    private static string ListIdValue(string listId)
    {
        RejectLineBreaks(listId, "List-Id");
        var value = listId.Trim();
        var open = value.LastIndexOf('<');
        var id = open >= 0 && value.EndsWith('>') ? value[(open + 1)..^1] : value;
        if (id.Length == 0 || !id.Contains('.', StringComparison.Ordinal) || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
        {
            throw new ArgumentException($"List-Id '{listId}' needs an id like field-notes.example.org, optionally after a name: 'Field Notes <field-notes.example.org>'.", nameof(listId));
        }

        var phrase = open >= 0 ? value[..open].Trim() : "";
        if (phrase.Contains('<', StringComparison.Ordinal) || phrase.Contains('>', StringComparison.Ordinal))
        {
            throw new ArgumentException($"List-Id '{listId}' has stray angle brackets.", nameof(listId));
        }

        return phrase.Length > 0 ? $"{phrase} <{id}>" : $"<{id}>";
    }

    private static string Uri(string value, string what, params string[] schemes)
    {
        RejectLineBreaks(value, what);
        if (!System.Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) || !schemes.Contains(uri.Scheme, StringComparer.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"The {what} '{value}' is not an absolute {string.Join(" or ", schemes)} URI.", nameof(value));
        }

        // Angle brackets delimit the URI in the header (RFC 2369); a literal one must not end it early.
        return value.Trim().Replace("<", "%3C", StringComparison.Ordinal).Replace(">", "%3E", StringComparison.Ordinal).Replace(" ", "%20", StringComparison.Ordinal);
    }

    private static void RejectLineBreaks(string? value, string what)
    {
        if (value is not null && value.Any(c => c is '\r' or '\n' or '\0' or '\u0085' or '\u2028' or '\u2029'))
        {
            throw new ArgumentException($"The {what} contains a line break, which could add mail headers; it is refused.", nameof(value));
        }
    }
}
