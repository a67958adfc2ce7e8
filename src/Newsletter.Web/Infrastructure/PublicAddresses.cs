using System.Net;
using System.Net.Sockets;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// Whether an address is on the public internet, for every request the server makes on an author's word (webhooks,
/// feeds and images fetched by the post importer): one rule, so the two can't disagree about a range, as they did
/// (the importer refused 198.18.0.0/15 and 192.0.0.0/24 while webhooks let them through; webhooks judged IPv6 forms
/// that carry an IPv4 address while the importer did not).
/// </summary>
public static class PublicAddresses
{
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            // IPv6 forms that carry an IPv4 address reach that address: NAT64's well-known 64:ff9b::/96,
            // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks) and 6to4 2002:a.b.c.d::/48, each
            // judged by the IPv4 address it carries. NAT64's local-use 64:ff9b:1::/48 (RFC 8215) is private by name.
            var nat64 = b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b;
            if (nat64 && b[4] == 0 && b[5] == 1)
            {
                return false;
            }

            if ((nat64 && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0) || b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0)
            {
                return IsPublic(new IPAddress(b.AsSpan(12, 4)));
            }

            if (b[0] == 0x20 && b[1] == 0x02)
            {
                return IsPublic(new IPAddress(b.AsSpan(2, 4)));
            }

            // Link-local, site-local, multicast, and unique local fc00::/7.
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || (b[0] & 0xFE) == 0xFC);
        }

        var v4 = address.GetAddressBytes();
        return v4[0] switch
        {
            0 or 10 or 127 => false,
            100 when v4[1] is >= 64 and <= 127 => false, // carrier-grade NAT
            169 when v4[1] == 254 => false, // link-local, cloud metadata services
            172 when v4[1] is >= 16 and <= 31 => false,
            192 when v4[1] == 168 || (v4[1] == 0 && v4[2] is 0 or 2) => false, // private; IETF protocol assignments; documentation
            198 when v4[1] is 18 or 19 || (v4[1] == 51 && v4[2] == 100) => false, // benchmarking; documentation
            203 when v4[1] == 0 && v4[2] == 113 => false, // documentation
            >= 224 => false, // multicast and reserved
            _ => true,
        };
    }
}
