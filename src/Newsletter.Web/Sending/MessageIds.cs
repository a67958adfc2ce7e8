using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Sending;

/// <summary>
/// The Message-ID of a reader's copy of an issue: issue-{issue}.sub-{subscriber}.{mac}@domain. Stable per
/// (issue, reader), so a resend after a crash carries the same id and clients fold duplicates. The MAC, keyed
/// by a secret every node shares (<see cref="InstallationKeys"/>), is the proof a complaint must carry: the
/// two numbers are sequential, and without it anyone could write a spam report that suppresses any reader.
/// </summary>
public sealed partial class MessageIds(InstallationKeys keys)
{
    private byte[] Key => field ??= keys.Get("message-id");

    public string For(int issueId, long subscriberId, string domain) => $"{Local(issueId, subscriberId)}.{Mac(issueId, subscriberId)}@{domain}";

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

    /// <summary>The issue and reader a Message-ID (with or without its angle brackets) names, when it is ours and its MAC is right.</summary>
    public bool TryRead(string? messageId, out int issueId, out long subscriberId)
    {
        (issueId, subscriberId) = (0, 0);
        var m = Pattern().Match(messageId ?? "");
        if (!m.Success
            || !int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var issue)
            || !long.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var subscriber))
        {
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(issue, subscriber)), Encoding.ASCII.GetBytes(m.Groups[3].Value.ToLowerInvariant())))
        {
            return false;
        }

        (issueId, subscriberId) = (issue, subscriber);
        return true;
    }

    private static string Local(int issueId, long subscriberId) =>
        string.Create(CultureInfo.InvariantCulture, $"issue-{issueId}.sub-{subscriberId}");

    /// <summary>80 bits of the HMAC in hex: forging one takes 2^80 guesses, each a report someone must post.</summary>
    private string Mac(int issueId, long subscriberId)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(Key, Encoding.ASCII.GetBytes(Local(issueId, subscriberId)), mac);
        return Convert.ToHexStringLower(mac[..10]);
    }

    [GeneratedRegex(@"^<?issue-(\d{1,9})\.sub-(\d{1,18})\.([0-9a-fA-F]{20})@", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
