using System.Net.Sockets;
using System.Text.RegularExpressions;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;

namespace Newsletter.Mail;

/// <summary>What happened to one message, as the sending engine needs to know it.</summary>
public enum SendOutcome
{
    /// <summary>Accepted (2xx).</summary>
    Sent,

    /// <summary>Temporary failure (4xx): try this recipient again later.</summary>
    Deferred,

    /// <summary>Permanent failure (5xx): don't retry; see <see cref="SendResult.IsHardBounce"/>.</summary>
    Failed,

    /// <summary>
    /// The connection broke or could not be opened: retry the batch on a new connection. The recipient
    /// did nothing wrong. A message lost after its data was sent may still have been delivered.
    /// </summary>
    ConnectionLost,
}

/// <summary>The outcome of sending one message, with the server's reply code, enhanced status code and text.</summary>
/// <param name="Outcome">What the engine should do next.</param>
/// <param name="StatusCode">The SMTP reply code (250, 451, 550...), null when there was no reply.</param>
/// <param name="EnhancedStatusCode">The RFC 3463 code found in the reply text (e.g. 5.1.1), if any.</param>
/// <param name="Reply">The server's reply text, or what went wrong with the connection.</param>
public sealed partial record SendResult(SendOutcome Outcome, int? StatusCode, string? EnhancedStatusCode, string? Reply)
{
    /// <summary>
    /// For <see cref="SendOutcome.ConnectionLost"/>: the server had accepted a recipient before the connection
    /// broke, so it may have stored the message and only its final reply was lost. A retry can then be a second
    /// copy, and the engine must say so. False when the failure came before any recipient was accepted
    /// (connecting, greeting, MAIL FROM): nothing can have been stored.
    /// </summary>
    public bool MayHaveBeenDelivered { get; init; }

    /// <summary>A message accepted without a reply worth keeping (the pickup transport).</summary>
    public static SendResult Ok { get; } = new(SendOutcome.Sent, 250, "2.0.0", "OK");

    /// <summary>
    /// Whether the failure says the address itself is dead, so the reader should be suppressed. Only a 5xx
    /// qualifies, and then by its RFC 3463 enhanced code:
    /// <list type="bullet">
    /// <item>Hard: 5.1.0 (other address status), 5.1.1 (no such mailbox), 5.1.2 (no such domain), 5.1.3 (bad
    /// address syntax), 5.1.4 (ambiguous), 5.1.6 (moved, no forwarding), 5.1.10 (domain publishes a null MX,
    /// RFC 7505), 5.2.1 (mailbox disabled).</item>
    /// <item>Not hard: 5.1.7 and 5.1.8 (our sender address is the problem), 5.2.2 (mailbox full), 5.2.3
    /// (message too big), 5.4.x (routing, often a DNS hiccup), 5.7.x (policy, spam, authentication): the
    /// address is real, suppressing it would lose a reader over our own or a passing problem.</item>
    /// <item>Without an enhanced code: 550 (mailbox unavailable), 551 (user not local) and 553 (mailbox
    /// name not allowed), the codes RFC 5321 gives for a recipient that doesn't exist. Servers that reject
    /// for policy almost always add a 5.7.x code, which then decides.</item>
    /// </list>
    /// </summary>
    public bool IsHardBounce => Outcome == SendOutcome.Failed && StatusCode is >= 500 and < 600 && (
        EnhancedStatusCode is { } e
            ? e is "5.1.0" or "5.1.1" or "5.1.2" or "5.1.3" or "5.1.4" or "5.1.6" or "5.1.10" or "5.2.1"
            : StatusCode is 550 or 551 or 553);

    /// <summary>Classifies an SMTP reply: 2xx sent, 4xx deferred, anything else failed.</summary>
    public static SendResult FromReply(int code, string? reply)
    {
        var outcome = code switch
        {
            >= 200 and < 300 => SendOutcome.Sent,
            >= 400 and < 500 => SendOutcome.Deferred,
            _ => SendOutcome.Failed,
        };
        return new SendResult(outcome, code, FindEnhancedCode(code, reply), reply?.Trim());
    }

    /// <summary>A connection that broke or could not be opened, with what went wrong.</summary>
    public static SendResult ConnectionLost(string why, bool mayHaveBeenDelivered = false) =>
        new(SendOutcome.ConnectionLost, null, null, why) { MayHaveBeenDelivered = mayHaveBeenDelivered };

    /// <summary>
    /// Whether <paramref name="e"/> means the connection is gone (a socket, stream or protocol failure, or
    /// MailKit's "not connected"), as opposed to a server reply.
    /// </summary>
    public static bool IsConnectionFailure(Exception e) =>
        e is IOException or SocketException or TimeoutException or SmtpProtocolException or ServiceNotConnectedException or SslHandshakeException or ObjectDisposedException;

    /// <summary>The enhanced status code in a reply text, if its class matches the reply code's.</summary>
    public static string? FindEnhancedCode(int code, string? reply)
    {
        if (reply is null)
        {
            return null;
        }

        // RFC 3463 codes lead the text ("5.1.1 <a@b>: User unknown"), but some servers put them later.
        var match = Enhanced().Match(reply);
        return match.Success && match.Value[0] - '0' == code / 100 ? match.Value : null;
    }

    [GeneratedRegex(@"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?!\.?\d)")]
    private static partial Regex Enhanced();
}
