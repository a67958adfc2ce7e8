using System.Text.RegularExpressions;

namespace Newsletter.Mail;

/// <summary>What the server said about one message.</summary>
public enum SendOutcome
{
    /// <summary>Accepted (2xx).</summary>
    Sent,

    /// <summary>Temporary failure (4xx): try again later.</summary>
    Deferred,

    /// <summary>Permanent failure (5xx): don't retry.</summary>
    Failed,

    /// <summary>The connection broke before a reply: retry, the recipient did nothing wrong.</summary>
    ConnectionLost,
}

/// <summary>The outcome of sending one message, with the server's code and reply.</summary>
public sealed partial record SendResult(SendOutcome Outcome, int? StatusCode, string? EnhancedStatusCode, string? Reply)
{
    /// <summary>A sent message.</summary>
    public static SendResult Ok { get; } = new(SendOutcome.Sent, 250, "2.0.0", "OK");

    /// <summary>
    /// A permanent failure that says the mailbox or domain doesn't exist or can't take mail (RFC 3463
    /// 5.1.x: bad address, 5.2.1: disabled mailbox), or a 550/551/553 about the recipient with no enhanced
    /// code. Policy rejections (5.7.x) and full mailboxes (5.2.2) are not hard bounces: the address is real.
    /// </summary>
    public bool IsHardBounce => Outcome == SendOutcome.Failed && (
        EnhancedStatusCode is { } e
            ? e.StartsWith("5.1.", StringComparison.Ordinal) || e == "5.2.1"
            : StatusCode is 550 or 551 or 553);

    /// <summary>Classifies an SMTP reply code and text.</summary>
    public static SendResult FromReply(int code, string? reply)
    {
        var enhanced = reply is null ? null : Enhanced().Match(reply) is { Success: true } m ? m.Value : null;
        var outcome = code switch
        {
            >= 200 and < 300 => SendOutcome.Sent,
            >= 400 and < 500 => SendOutcome.Deferred,
            _ => SendOutcome.Failed,
        };
        return new SendResult(outcome, code, enhanced, reply?.Trim());
    }

    [GeneratedRegex(@"\b[245]\.\d{1,3}\.\d{1,3}\b")]
    private static partial Regex Enhanced();
}
