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

    /// <summary>Whether the failure says the address itself is dead: see <see cref="BounceRule"/>, the one rule.</summary>
    public bool IsHardBounce => Outcome == SendOutcome.Failed && BounceRule.IsHard(StatusCode, EnhancedStatusCode);

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
