using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Sending;

/// <summary>
/// bounce+{delivery}-{mac}@domain: a bounce sent to this address names the delivery it belongs to, and the
/// short MAC, keyed by a secret of this installation, keeps anyone from forging bounces that would fail or
/// suppress other readers. The key is one of <see cref="InstallationKeys"/>, shared by every node; an older
/// install's data/keys/verp.key seeds it, so bounce addresses already sent stay valid.
/// </summary>
public sealed partial class VerpAddresses(InstallationKeys keys)
{
    private byte[] Key => field ??= keys.Get("verp", legacyFile: "verp.key");

    public string For(long deliveryId, string domain) => $"bounce+{deliveryId.ToString(CultureInfo.InvariantCulture)}-{Mac(deliveryId)}@{domain}";

    /// <summary>The delivery an address names, when it is one of ours and its MAC is right.</summary>
    public bool TryRead(string? address, out long deliveryId)
    {
        deliveryId = 0;
        var m = Pattern().Match(address ?? "");
        if (!m.Success || !long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Mac(id));
        var given = Encoding.ASCII.GetBytes(m.Groups[2].Value.ToLowerInvariant());
        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            return false;
        }

        deliveryId = id;
        return true;
    }

    /// <summary>8 hex digits of the HMAC of the id's decimal text: one per message, so nothing is allocated but the result.</summary>
    private string Mac(long deliveryId)
    {
        Span<byte> id = stackalloc byte[20];
        deliveryId.TryFormat(id, out var length, default, CultureInfo.InvariantCulture);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(Key, id[..length], mac);
        return Convert.ToHexStringLower(mac[..4]);
    }

    [GeneratedRegex(@"bounce\+(\d{1,18})-([0-9a-fA-F]{8})@", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
