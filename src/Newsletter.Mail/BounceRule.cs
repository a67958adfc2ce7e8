namespace Newsletter.Mail;

/// <summary>
/// The one rule for "this address is dead, stop mailing it", used for a refusal in the SMTP session and for a
/// delivery report (DSN) that arrives later alike, so whether a reader is suppressed never depends on when the
/// failure arrived. Only a permanent (5xx) failure qualifies, and then by its RFC 3463 enhanced code:
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
public static class BounceRule
{
    /// <param name="reply">The SMTP reply code (550), when known.</param>
    /// <param name="enhanced">The enhanced status code (5.1.1), when known: it decides when present.</param>
    public static bool IsHard(int? reply, string? enhanced) =>
        string.IsNullOrEmpty(enhanced)
            ? reply is 550 or 551 or 553
            : enhanced is "5.1.0" or "5.1.1" or "5.1.2" or "5.1.3" or "5.1.4" or "5.1.6" or "5.1.10" or "5.2.1";
}
