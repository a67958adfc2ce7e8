using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Signed tokens in links. A confirmation token expires and names the subscriber's token version, so it
/// works once; it is encrypted and authenticated by ASP.NET Core data protection. A manage token
/// (unsubscribe, preferences) never expires, since an unsubscribe link in a two-year-old email must still
/// work: it is the subscriber's id sealed under a key of this installation (<see cref="SealedNumbers"/>), so it
/// can be neither forged nor read. It goes into every copy of every issue, and data protection's encryption was
/// a fifth of the CPU of building one; sealing an id costs under a hundredth of that. Manage tokens made before
/// are still read: the id and an HMAC of it ("m1"), and data protection's before those.
/// </summary>
public sealed class SubscriberTokens(IDataProtectionProvider provider, IOptions<SubscriptionOptions> options, TimeProvider clock, InstallationKeys keys, SealedNumbers sealedNumbers)
{
    /// <summary>
    /// The reader of a test copy or a preview. Ids start at 1, so its links resolve to nobody; the pages they open
    /// say it was a test instead of refusing (a mail client's one-click POST gets a 200).
    /// </summary>
    public const long TestReaderId = 0;

    private const string ManagePrefix = "m2";
    private static readonly int ManageLength = ManagePrefix.Length + WebEncoders.Base64UrlEncode(new byte[SealedNumbers.Length]).Length;

    // The form before sealed ids: the id in the clear and the first 16 bytes of its HMAC.
    private const string HmacPrefix = "m1";
    private const int MacBytes = 16;

    private readonly ITimeLimitedDataProtector _confirm = provider.CreateProtector("Newsletter.Subscribers.Confirm.v1").ToTimeLimitedDataProtector();
    private readonly ITimeLimitedDataProtector _dataRequest = provider.CreateProtector("Newsletter.Subscribers.DataRequest.v1").ToTimeLimitedDataProtector();
    private readonly IDataProtector _legacyManage = provider.CreateProtector("Newsletter.Subscribers.Manage.v1");
    // The "m1" tokens' key. In the database, not a file per node: a link made by one node must open on every
    // other. An older data/keys/links.key seeds it, so links already in readers' inboxes keep working.
    private byte[] ManageKey => keys.Get("links", legacyFile: "links.key");

    public string Confirmation(Subscriber s) =>
        _confirm.Protect($"{s.Id}.{s.TokenVersion}", clock.GetUtcNow() + options.Value.ConfirmationTokenLifetime);

    public string Manage(long subscriberId) =>
        ManagePrefix + WebEncoders.Base64UrlEncode(sealedNumbers.Seal(SealedKind.ManageLink, 0, subscriberId));

    /// <summary>How long a "your data" link works: long enough to find the email, short enough that a forwarded one goes stale.</summary>
    public static readonly TimeSpan DataRequestLifetime = TimeSpan.FromHours(24);

    /// <summary>
    /// A link, emailed to the reader, that lets its holder download or erase the reader's data. Unlike a manage
    /// token it expires and names what it may do, because manage links travel in every issue and get forwarded.
    /// </summary>
    public string DataRequest(long subscriberId, DataRequestKind kind) =>
        _dataRequest.Protect($"{(int)kind}.{subscriberId}", clock.GetUtcNow() + DataRequestLifetime);

    public (TokenState State, DataRequestKind Kind, long SubscriberId) ReadDataRequest(string? token)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 2000)
        {
            return (TokenState.Invalid, default, 0);
        }

        try
        {
            var parts = _dataRequest.Unprotect(token, out var expiration).Split('.');
            if (parts.Length != 2 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var kind) || !Enum.IsDefined((DataRequestKind)kind)
                || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out var id))
            {
                return (TokenState.Invalid, default, 0);
            }

            return (expiration < clock.GetUtcNow() ? TokenState.Expired : TokenState.Valid, (DataRequestKind)kind, id);
        }
        catch (CryptographicException e) when (e.Message.Contains("expired", StringComparison.OrdinalIgnoreCase))
        {
            return (TokenState.Expired, default, 0);
        }
        catch (CryptographicException)
        {
            return (TokenState.Invalid, default, 0);
        }
    }

    public ConfirmationToken ReadConfirmation(string? token)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 2000)
        {
            return ConfirmationToken.Invalid;
        }

        try
        {
            var payload = _confirm.Unprotect(token, out var expiration);
            var parts = payload.Split('.');
            if (expiration < clock.GetUtcNow())
            {
                return new ConfirmationToken(TokenState.Expired, long.Parse(parts[0], CultureInfo.InvariantCulture), 0);
            }

            return new ConfirmationToken(TokenState.Valid, long.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
        catch (CryptographicException e) when (e.Message.Contains("expired", StringComparison.OrdinalIgnoreCase))
        {
            return new ConfirmationToken(TokenState.Expired, 0, 0);
        }
        catch (Exception e) when (e is CryptographicException or FormatException or IndexOutOfRangeException)
        {
            return ConfirmationToken.Invalid;
        }
    }

    public long? ReadManage(string? token)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 2000)
        {
            return null;
        }

        if (token.StartsWith(ManagePrefix, StringComparison.Ordinal) && token.Length == ManageLength)
        {
            try
            {
                var block = WebEncoders.Base64UrlDecode(token, ManagePrefix.Length, token.Length - ManagePrefix.Length);
                // 22 characters carry 132 bits for 128: the last one's spare bits must be zero too, so that each
                // token has one spelling and any changed character is refused.
                return WebEncoders.Base64UrlEncode(block).AsSpan().SequenceEqual(token.AsSpan(ManagePrefix.Length))
                    && sealedNumbers.TryOpen(block, SealedKind.ManageLink, 0, out var id) ? id : null;
            }
            catch (FormatException)
            {
                return null;
            }
        }

        if (token.StartsWith(HmacPrefix, StringComparison.Ordinal) && token.Length == HmacPrefix.Length + 32)
        {
            try
            {
                var bytes = WebEncoders.Base64UrlDecode(token, HmacPrefix.Length, 32);
                if (bytes.Length != 8 + MacBytes)
                {
                    return null;
                }

                Span<byte> mac = stackalloc byte[32];
                HMACSHA256.HashData(ManageKey, bytes.AsSpan(0, 8), mac);
                return CryptographicOperations.FixedTimeEquals(mac[..MacBytes], bytes.AsSpan(8)) ? System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(bytes) : null;
            }
            catch (FormatException)
            {
                return null;
            }
        }

        try
        {
            return long.Parse(_legacyManage.Unprotect(token), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            return null;
        }
    }
}

/// <summary>What a "your data" link lets its holder do.</summary>
public enum DataRequestKind
{
    Download = 1,
    Erase = 2,
}

public enum TokenState
{
    Invalid,
    Expired,
    Valid,
}

public sealed record ConfirmationToken(TokenState State, long SubscriberId, int Version)
{
    public static ConfirmationToken Invalid { get; } = new(TokenState.Invalid, 0, 0);
}
