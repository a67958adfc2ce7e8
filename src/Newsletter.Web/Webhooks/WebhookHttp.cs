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

    /// <summary>The one judgement of what a server-side request may reach, shared with the post importer.</summary>
    public static bool IsPublic(IPAddress address) => Infrastructure.PublicAddresses.IsPublic(address);
}
