using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Newsletter.Web.PostsImport;

/// <summary>Why a download was refused or failed, in words for the author.</summary>
public sealed class DownloadRefusedException(string message) : Exception(message);

/// <summary>
/// Fetches what an import names (a feed's URL, a post's images) without letting the import reach inside the
/// server's network: only http and https, and every connection's address is checked after DNS resolution, so
/// a name that resolves to 127.0.0.1, 10.x, 169.254.169.254 (cloud metadata) or another private range is refused
/// even through a redirect. Sizes and time are bounded.
/// </summary>
public sealed class SafeDownloader : IDisposable
{
    private readonly HttpClient _http;
    private readonly PostImportOptions _options;

    public SafeDownloader(IOptions<PostImportOptions> options)
    {
        _options = options.Value;
        var allowPrivate = _options.AllowPrivateAddresses;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = 3,
            AutomaticDecompression = DecompressionMethods.All,
            ConnectTimeout = TimeSpan.FromSeconds(_options.DownloadTimeoutSeconds),
            UseProxy = false,
            // The check is here, on the address actually connected to, so DNS rebinding and redirects can't get around it.
            ConnectCallback = async (context, ct) =>
            {
                var addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, ct);
                var allowed = addresses.Where(a => allowPrivate || IsPublic(a)).ToList();
                if (allowed.Count == 0)
                {
                    throw new DownloadRefusedException($"{context.DnsEndPoint.Host} is a private or local address; imports only fetch from the public internet");
                }

                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(allowed[0], context.DnsEndPoint.Port, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(_options.DownloadTimeoutSeconds) };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("NewsletterPostImport/1.0");
    }

    /// <summary>The body at <paramref name="url"/>, at most <paramref name="maxBytes"/> long.</summary>
    public async Task<byte[]> GetAsync(string url, long maxBytes, CancellationToken ct)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new DownloadRefusedException($"{Shorten(url)}: only http and https addresses are fetched");
        }

        if (!_options.AllowPrivateAddresses && IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal) && !IsPublic(literal))
        {
            throw new DownloadRefusedException($"{Shorten(url)}: {uri.Host} is a private or local address; imports only fetch from the public internet");
        }

        try
        {
            using var response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new DownloadRefusedException($"{Shorten(url)}: the server answered {(int)response.StatusCode}");
            }

            if (response.Content.Headers.ContentLength > maxBytes)
            {
                throw new DownloadRefusedException($"{Shorten(url)}: {response.Content.Headers.ContentLength:N0} bytes is over the limit of {maxBytes:N0}");
            }

            await using var body = await response.Content.ReadAsStreamAsync(ct);
            return await ReadAtMostAsync(body, maxBytes, () => new DownloadRefusedException($"{Shorten(url)}: more than the limit of {maxBytes:N0} bytes"), ct);
        }
        catch (HttpRequestException e) when (e.InnerException is DownloadRefusedException refused)
        {
            throw new DownloadRefusedException($"{Shorten(url)}: {refused.Message}");
        }
        catch (HttpRequestException e)
        {
            throw new DownloadRefusedException($"{Shorten(url)}: {e.Message}");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new DownloadRefusedException($"{Shorten(url)}: no answer within {_options.DownloadTimeoutSeconds} seconds");
        }
    }

    /// <summary>Loopback, private (RFC 1918, unique-local), link-local, carrier-grade NAT, multicast and unspecified addresses are not the public internet.</summary>
    /// <summary>A stream's bytes, counted as they are read: a declared length can lie, or be 0 for a stream that never ends.</summary>
    public static async Task<byte[]> ReadAtMostAsync(Stream stream, long maxBytes, Func<Exception> over, CancellationToken ct)
    {
        using var content = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct)) > 0)
        {
            if (content.Length + read > maxBytes)
            {
                throw over();
            }

            content.Write(chunk, 0, read);
        }

        return content.ToArray();
    }

    public static bool IsPublic(IPAddress address) => Infrastructure.PublicAddresses.IsPublic(address);

    private static string Shorten(string url) => url.Length > 120 ? url[..120] + "…" : url;

    public void Dispose() => _http.Dispose();
}
