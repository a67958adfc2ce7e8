using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Signed tokens in links. A confirmation token expires and names the subscriber's token version, so it
/// works once; it is encrypted and authenticated by ASP.NET Core data protection. A manage token
/// (unsubscribe, preferences) never expires, since an unsubscribe link in a two-year-old email must still
/// work: it is the subscriber's id and an HMAC of it under a key of this installation, so it cannot be
/// forged. It goes into every copy of every issue, and data protection's encryption was a fifth of the
/// CPU of building one; an HMAC costs a hundredth of that. Manage tokens made by data protection before
/// are still read.
/// </summary>
public sealed class SubscriberTokens(IDataProtectionProvider provider, IOptions<SubscriptionOptions> options, TimeProvider clock, Infrastructure.InstallationKeys keys)
{
    /// <summary>
    /// The reader of a test copy or a preview. Ids start at 1, so its links resolve to nobody; the pages they open
    /// say it was a test instead of refusing (a mail client's one-click POST gets a 200).
    /// </summary>
    public const long TestReaderId = 0;

    private const string ManagePrefix = "m1";
    private const int MacBytes = 16;

    private readonly ITimeLimitedDataProtector _confirm = provider.CreateProtector("Newsletter.Subscribers.Confirm.v1").ToTimeLimitedDataProtector();
    private readonly ITimeLimitedDataProtector _dataRequest = provider.CreateProtector("Newsletter.Subscribers.DataRequest.v1").ToTimeLimitedDataProtector();
    private readonly IDataProtector _legacyManage = provider.CreateProtector("Newsletter.Subscribers.Manage.v1");
    // In the database, not a file per node: a link made by one node must open on every other. An older
    // data/keys/links.key seeds it, so links already in readers' inboxes keep working.
    private byte[] ManageKey => keys.Get("links", legacyFile: "links.key");

    public string Confirmation(Subscriber s) =>
        _confirm.Protect($"{s.Id}.{s.TokenVersion}", clock.GetUtcNow() + options.Value.ConfirmationTokenLifetime);

    public string Manage(long subscriberId)
    {
        Span<byte> token = stackalloc byte[8 + MacBytes];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(token, subscriberId);
        ManageMac(token[..8], token[8..]);
        return ManagePrefix + Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlEncode(token);
    }

    /// <summary>The first <see cref="MacBytes"/> of the id's HMAC, written into <paramref name="into"/>.</summary>
    private void ManageMac(ReadOnlySpan<byte> id, Span<byte> into)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(ManageKey, id, mac);
        mac[..MacBytes].CopyTo(into);
    }

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

        if (token.StartsWith(ManagePrefix, StringComparison.Ordinal) && token.Length == ManagePrefix.Length + 32)
        {
            try
            {
                var bytes = Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlDecode(token, ManagePrefix.Length, 32);
                if (bytes.Length != 8 + MacBytes)
                {
                    return null;
                }

                Span<byte> expected = stackalloc byte[MacBytes];
                ManageMac(bytes.AsSpan(0, 8), expected);
                return CryptographicOperations.FixedTimeEquals(expected, bytes.AsSpan(8)) ? System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(bytes) : null;
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
