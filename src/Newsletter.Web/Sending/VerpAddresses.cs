using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Sending;

/// <summary>
/// bounce+{sealed delivery}@domain: a bounce sent to this address names the delivery it belongs to. The delivery's
/// id is sealed (<see cref="SealedNumbers"/>) under a key every node shares, which keeps anyone from forging bounces
/// that would fail or suppress other readers, and keeps the address from telling a reader how many emails were sent
/// before theirs. The form before, bounce+{delivery}-{mac}, is still read, keyed by the "verp" installation key that
/// an older data/keys/verp.key seeds, so bounces of mail already sent still count.
/// </summary>
public sealed partial class VerpAddresses(InstallationKeys keys, SealedNumbers sealedNumbers)
{
    private byte[] Key => field ??= keys.Get("verp", legacyFile: "verp.key");

    public string For(long deliveryId, string domain) => $"bounce+{sealedNumbers.SealHex(SealedKind.BounceAddress, 0, deliveryId)}@{domain}";

    /// <summary>The delivery an address names, when it is one of ours and unforged.</summary>
    public bool TryRead(string? address, out long deliveryId)
    {
        deliveryId = 0;
        var m = Pattern().Match(address ?? "");
        if (!m.Success)
        {
            return false;
        }

        if (m.Groups[1].Success)
        {
            return sealedNumbers.TryOpenHex(m.Groups[1].ValueSpan, SealedKind.BounceAddress, 0, out deliveryId);
        }

        if (!long.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Mac(id));
        var given = Encoding.ASCII.GetBytes(m.Groups[3].Value.ToLowerInvariant());
        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            return false;
        }

        deliveryId = id;
        return true;
    }

    /// <summary>The older form's 8 hex digits of the HMAC of the id's decimal text.</summary>
    private string Mac(long deliveryId)
    {
        Span<byte> id = stackalloc byte[20];
        deliveryId.TryFormat(id, out var length, default, CultureInfo.InvariantCulture);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(Key, id[..length], mac);
        return Convert.ToHexStringLower(mac[..4]);
    }

    // bounce+{32 hex} now, bounce+{delivery}-{8 hex} before.
    [GeneratedRegex(@"bounce\+(?:([0-9a-fA-F]{32})|(\d{1,18})-([0-9a-fA-F]{8}))@", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
