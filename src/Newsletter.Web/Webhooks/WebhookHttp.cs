using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Newsletter.Web.Webhooks;

/// <summary>Raised when an endpoint's address is on a network a webhook may not reach.</summary>
public sealed class WebhookAddressRefusedException(string message) : Exception(message);

/// <summary>
/// The HTTP client webhooks go out with. The address check sits in the connect callback, on the address
/// really connected to, so a name that resolves to a public address when the endpoint is saved and to
/// 127.0.0.1 when it is called (DNS rebinding) is still refused. Redirects are not followed: a 3xx is a failure.
/// </summary>
public static class WebhookHttp
{
    public const string ClientName = "webhooks";

    public static IServiceCollection AddWebhookHttp(this IServiceCollection services)
    {
        services.AddHttpClient(ClientName, (sp, client) =>
            {
                client.Timeout = sp.GetRequiredService<IOptions<WebhookOptions>>().Value.Timeout;
                client.DefaultRequestHeaders.UserAgent.ParseAdd("Newsletter-Webhooks/1");
            })
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var options = sp.GetRequiredService<IOptions<WebhookOptions>>();
                return new SocketsHttpHandler
                {
                    AllowAutoRedirect = false,
                    UseCookies = false,
                    PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                    ConnectCallback = (context, ct) => ConnectAsync(context.DnsEndPoint, options.Value.AllowPrivateNetworks, ct),
                };
            });
        return services;
    }

    /// <summary>The addresses of <paramref name="host"/> a webhook may use; refuses with a sentence when there are none.</summary>
    public static async Task<IPAddress[]> AllowedAddressesAsync(string host, bool allowPrivate, CancellationToken ct)
    {
        var all = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var allowed = allowPrivate ? all : [.. all.Where(IsPublic)];
        return allowed.Length > 0
            ? allowed
            : throw new WebhookAddressRefusedException($"{host} resolves to {string.Join(", ", all.Select(a => a.ToString()))}: a loopback, private or link-local address, which webhooks may not reach (Webhooks:AllowPrivateNetworks)");
    }

    private static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, bool allowPrivate, CancellationToken ct)
    {
        var addresses = await AllowedAddressesAsync(endpoint.Host, allowPrivate, ct);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

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
            192 when v4[1] == 168 => false,
            >= 224 => false, // multicast and reserved
            _ => true,
        };
    }
}
