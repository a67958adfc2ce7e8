using MimeKit;

namespace Newsletter.Mail;

/// <summary>Everything a message needs, before it becomes MIME.</summary>
public sealed record OutgoingMessage
{
    /// <summary>The recipient's address (already normalised).</summary>
    public required string ToAddress { get; init; }

    /// <summary>The recipient's name, if known.</summary>
    public string? ToName { get; init; }

    /// <summary>One line; CR or LF is refused.</summary>
    public required string Subject { get; init; }

    /// <summary>The HTML part.</summary>
    public required string Html { get; init; }

    /// <summary>The plain-text part.</summary>
    public required string Text { get; init; }

    /// <summary>A stable Message-ID without angle brackets, e.g. issue-3.sub-42@example.org; generated when null.</summary>
    public string? MessageId { get; init; }

    /// <summary>The https one-click unsubscribe URL (List-Unsubscribe and List-Unsubscribe-Post).</summary>
    public string? ListUnsubscribeUrl { get; init; }

    /// <summary>A mailto: URI for List-Unsubscribe, for clients that only mail.</summary>
    public string? ListUnsubscribeMailto { get; init; }

    /// <summary>List-Id value, e.g. "Field Notes &lt;field-notes.example.org&gt;".</summary>
    public string? ListId { get; init; }

    /// <summary>Adds Precedence: bulk (and Auto-Submitted) for newsletter issues.</summary>
    public bool Bulk { get; init; }

    /// <summary>The envelope sender (VERP bounce address) for this recipient; the From address when null.</summary>
    public string? ReturnPath { get; init; }
}

/// <summary>Builds MIME messages: multipart/alternative, text first, then HTML; headers that cannot be injected.</summary>
public static class MessageFactory
{
    /// <summary>Builds the message; throws ArgumentException for a header value with CR or LF.</summary>
    public static MimeMessage Build(OutgoingMessage m, MailOptions options)
    {
        RejectLineBreaks(m.Subject, "subject");
        RejectLineBreaks(m.ToName, "recipient name");
        RejectLineBreaks(options.FromName, "sender name");
        var message = new MimeMessage
        {
            Subject = m.Subject,
            Date = DateTimeOffset.UtcNow,
            MessageId = m.MessageId ?? MimeKit.Utils.MimeUtils.GenerateMessageId(Domain(options.FromAddress)),
        };
        message.From.Add(new MailboxAddress(options.FromName, options.FromAddress));
        message.To.Add(new MailboxAddress(m.ToName ?? "", m.ToAddress));
        if (!string.IsNullOrWhiteSpace(options.ReplyTo))
        {
            message.ReplyTo.Add(MailboxAddress.Parse(options.ReplyTo));
        }

        if (m.ListUnsubscribeUrl is not null || m.ListUnsubscribeMailto is not null)
        {
            var targets = new[] { m.ListUnsubscribeUrl, m.ListUnsubscribeMailto }.Where(t => t is not null).Select(t => $"<{Checked(t!)}>");
            message.Headers.Add("List-Unsubscribe", string.Join(", ", targets));
            if (m.ListUnsubscribeUrl is not null)
            {
                // RFC 8058: the provider may POST "List-Unsubscribe=One-Click" to the https URL.
                message.Headers.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
            }
        }

        if (m.ListId is not null)
        {
            message.Headers.Add("List-Id", Checked(m.ListId));
        }

        if (m.Bulk)
        {
            message.Headers.Add("Precedence", "bulk");
            message.Headers.Add("Auto-Submitted", "auto-generated");
        }

        if (m.ReturnPath is not null)
        {
            // The transport uses it as the envelope sender; the header is for the pickup folder's readers.
            message.Headers.Add(HeaderId.ReturnPath, $"<{Checked(m.ReturnPath)}>");
        }

        var body = new MultipartAlternative
        {
            new TextPart("plain") { Text = m.Text },
            new TextPart("html") { Text = m.Html },
        };
        message.Body = body;
        return message;
    }

    /// <summary>The envelope sender to use for a message built from <paramref name="m"/>.</summary>
    public static MailboxAddress EnvelopeFrom(OutgoingMessage m, MailOptions options) =>
        new("", m.ReturnPath ?? options.FromAddress);

    private static string Domain(string address) => address.Contains('@', StringComparison.Ordinal) ? address[(address.LastIndexOf('@') + 1)..] : "localhost";

    private static string Checked(string value)
    {
        RejectLineBreaks(value, "header");
        return value.Replace(">", "%3E", StringComparison.Ordinal).Replace("<", "%3C", StringComparison.Ordinal);
    }

    private static void RejectLineBreaks(string? value, string what)
    {
        if (value is not null && value.Any(c => c is '\r' or '\n' or '\0'))
        {
            throw new ArgumentException($"The {what} contains a line break, which would let it add mail headers; refused.", nameof(value));
        }
    }
}
