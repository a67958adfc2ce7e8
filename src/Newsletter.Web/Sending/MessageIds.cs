using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Sending;

/// <summary>
/// The Message-ID of a reader's copy of an issue: issue-{issue}.{sealed reader}@domain. Stable per (issue, reader),
/// so a resend after a crash carries the same id and clients fold duplicates. The reader's id is sealed with the
/// issue's number (<see cref="SealedNumbers"/>), under a key every node shares: it is the proof a complaint must
/// carry, since anyone who could write one for any reader could suppress them, and it does not tell the reader how
/// many signed up before them. Ids of the form before, issue-{issue}.sub-{reader}.{mac}, are still read: complaints
/// about issues sent before keep arriving for months.
/// </summary>
public sealed partial class MessageIds(InstallationKeys keys, SealedNumbers sealedNumbers)
{
    // The key of a pending mail's id and of the older form's MAC.
    private byte[] Key => field ??= keys.Get("message-id");

    public string For(int issueId, long subscriberId, string domain) =>
        string.Create(CultureInfo.InvariantCulture, $"issue-{issueId}.{sealedNumbers.SealHex(SealedKind.IssueMessage, issueId, subscriberId)}@{domain}");

    /// <summary>The Message-ID of a reader's copy of a welcome step: stable per (step, reader), so a copy sent twice would be folded.</summary>
    public string ForWelcome(int stepId, long subscriberId, string domain) =>
        string.Create(CultureInfo.InvariantCulture, $"welcome-{stepId}.{sealedNumbers.SealHex(SealedKind.WelcomeMessage, stepId, subscriberId)}@{domain}");

    /// <summary>
    /// A test copy's id: new for every copy. Gmail folds messages that share a Message-ID, so a second test of the
    /// same issue with the stable id would vanish as a duplicate of the first. It never reads as a reader's
    /// (<see cref="TryRead"/>), so a complaint about a test copy suppresses nobody.
    /// </summary>
    public static string ForTest(int issueId, string domain) =>
        string.Create(CultureInfo.InvariantCulture, $"test-{issueId}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}@{domain}");

    /// <summary>
    /// The Message-ID of a reader email stored with a transaction (<see cref="Subscribers.PendingMail"/>: a
    /// confirmation, a welcome), stable per row. A job that dies after the relay took the email and before it
    /// deleted the row sends it again on its retry; with the same id, clients that fold repeats (Gmail among them)
    /// show one. The row's id goes through the MAC, so the id says nothing about how many sign-ups there were.
    /// Rows are never numbered twice (AUTOINCREMENT on SQLite, an identity on PostgreSQL), so two different
    /// emails never share an id and none is folded away.
    /// </summary>
    public string ForPendingMail(long pendingMailId, string domain)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(Key, Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"pending-mail-{pendingMailId}")), mac);
        return $"mail-{Convert.ToHexStringLower(mac[..16])}@{domain}";
    }

    /// <summary>The issue and reader a Message-ID (with or without its angle brackets) names, when it is ours and unforged.</summary>
    public bool TryRead(string? messageId, out int issueId, out long subscriberId)
    {
        (issueId, subscriberId) = (0, 0);
        var m = Pattern().Match(messageId ?? "");
        if (!m.Success || !int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var issue))
        {
            return false;
        }

        if (m.Groups[2].Success)
        {
            if (!sealedNumbers.TryOpenHex(m.Groups[2].ValueSpan, SealedKind.IssueMessage, issue, out var reader))
            {
                return false;
            }

            (issueId, subscriberId) = (issue, reader);
            return true;
        }

        if (!long.TryParse(m.Groups[3].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var subscriber)
            || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(issue, subscriber)), Encoding.ASCII.GetBytes(m.Groups[4].Value.ToLowerInvariant())))
        {
            return false;
        }

        (issueId, subscriberId) = (issue, subscriber);
        return true;
    }

    /// <summary>The older form's 80 bits of HMAC in hex.</summary>
    private string Mac(int issueId, long subscriberId)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(Key, Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"issue-{issueId}.sub-{subscriberId}")), mac);
        return Convert.ToHexStringLower(mac[..10]);
    }

    // issue-{n}.{32 hex} now, issue-{n}.sub-{reader}.{20 hex} before.
    [GeneratedRegex(@"^<?issue-(\d{1,9})\.(?:([0-9a-fA-F]{32})|sub-(\d{1,18})\.([0-9a-fA-F]{20}))@", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
