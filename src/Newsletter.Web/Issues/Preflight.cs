using System.Net;
using System.Net.Sockets;
using AngleSharp.Html.Parser;
using Newsletter.Web.Content;

namespace Newsletter.Web.Issues;

/// <summary>
/// Checks an issue's email before it goes out: the things that make a send embarrassing or lossy, found
/// while they can still be fixed.
/// </summary>
public static class Preflight
{
    /// <summary>Gmail clips a message whose HTML is larger than this; what is past it is hidden behind a link.</summary>
    public const int GmailClipBytes = 102 * 1024;

    /// <summary>All the images of one email together: past this, a reader on a phone waits for them.</summary>
    public const long TotalImageBytes = 1_500_000;

    /// <summary>How tall an image may be shown in the email before it is a wall to scroll past.</summary>
    public const int TallImagePixels = 1600;

    /// <param name="uploaded">Uploaded images by path (/media/...), with their stored size; images elsewhere are judged by their attributes.</param>
    public static IReadOnlyList<string> Check(string emailHtml, string emailText, ISet<string> knownPaths, string baseUrl,
        IReadOnlyList<RemovedLink>? removed = null, IReadOnlyDictionary<string, Images.StoredImage>? uploaded = null, Images.ImageOptions? images = null)
    {
        images ??= new Images.ImageOptions();
        var warnings = new List<string>();
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var site) || Unreachable(site) is not null)
        {
            warnings.Add($"Site:BaseUrl is {baseUrl}, which readers can't reach{(site is null ? "" : $" ({Unreachable(site)})")}: “Read it on the web”, the unsubscribe and preferences links and every link to your notes point there. Set Site:BaseUrl to the site's public https:// address.");
        }
        else if (site.Scheme == Uri.UriSchemeHttp)
        {
            warnings.Add($"Site:BaseUrl is {baseUrl}, plain http: each reader's personal unsubscribe and preferences links travel unencrypted, and some mail providers mark http links as unsafe. Use the https:// address.");
        }

        var schemes = string.Join(", ", MarkdownRenderer.AllowedSchemes.SkipLast(1)) + " and " + MarkdownRenderer.AllowedSchemes[^1];
        foreach (var link in removed ?? [])
        {
            warnings.Add(link.Image
                ? $"The image “{link.Label}” from {link.Address} was removed: only {schemes} addresses are kept."
                : $"The link “{link.Label}” to {link.Address} was removed (its words stay, without a link): only {schemes} links are kept.");
        }

        var size = System.Text.Encoding.UTF8.GetByteCount(emailHtml);
        if (size > GmailClipBytes)
        {
            warnings.Add($"The email's HTML is {size / 1024} KB; Gmail clips everything after {GmailClipBytes / 1024} KB, including the unsubscribe link. Shorten it or move notes to links.");
        }

        var document = new HtmlParser().ParseDocument(emailHtml);
        long imageBytes = 0;
        foreach (var img in document.QuerySelectorAll("img"))
        {
            var src = img.GetAttribute("src") ?? "";
            if (string.IsNullOrWhiteSpace(img.GetAttribute("alt")))
            {
                warnings.Add($"An image has no alt text ({src}): readers with images off or screen readers get nothing.");
            }

            var path = Uri.TryCreate(src, UriKind.Absolute, out var u) ? u.AbsolutePath : src;
            if (uploaded is not null && uploaded.TryGetValue(path, out var stored))
            {
                imageBytes += stored.Length;
                if (stored.Length > images.WarnBytes)
                {
                    warnings.Add($"The image {path} is {stored.Length / 1024:N0} KB (more than {images.WarnBytes / 1024:N0} KB): slow on a phone's connection. Crop it, or save a photograph as JPEG rather than PNG.");
                }

                var shownHeight = stored.Height * Math.Min(images.EmailWidth, stored.Width) / Math.Max(1, stored.Width);
                if (shownHeight > TallImagePixels)
                {
                    warnings.Add($"The image {path} is shown {shownHeight:N0} px tall in the email, several screens of scrolling. Crop it or split it.");
                }
            }
            else if (int.TryParse(img.GetAttribute("width"), out var width) && width > images.EmailWidth)
            {
                warnings.Add($"The image {src} is set {width:N0} px wide; the email is {images.EmailWidth} px wide, so some mail apps will show it cut off or scrolling sideways.");
            }
        }

        if (imageBytes > TotalImageBytes)
        {
            warnings.Add($"The email's uploaded images add up to {imageBytes / 1024:N0} KB; above {TotalImageBytes / 1024:N0} KB readers on a phone wait for them. Use fewer or smaller images.");
        }

        foreach (var a in document.QuerySelectorAll("a"))
        {
            var href = a.GetAttribute("href")?.Trim() ?? "";
            var label = a.TextContent.Trim();
            if (href.Length == 0)
            {
                // A link the sanitiser emptied is named above, with the address it had.
                if (removed?.Any(r => !r.Image && r.Label == string.Join(' ', label.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))) != true)
                {
                    warnings.Add($"The link “{label}” has no address.");
                }
            }
            else if (href.StartsWith('#'))
            {
                continue;
            }
            else if (!Uri.TryCreate(href, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "mailto"))
            {
                warnings.Add($"The link “{label}” points to “{href}”, which won't work from an inbox: use a full https:// address.");
            }
            else if (!href.StartsWith(baseUrl, StringComparison.OrdinalIgnoreCase) && uri.Scheme != "mailto" && Unreachable(uri) is { } why)
            {
                warnings.Add($"The link “{label}” points to {href}, {why}: readers can't open it from their inbox.");
            }
            else if (href.StartsWith(baseUrl, StringComparison.OrdinalIgnoreCase))
            {
                var path = uri.AbsolutePath.TrimEnd('/');
                if (path.StartsWith("/notes/", StringComparison.Ordinal) || path.StartsWith("/issues/", StringComparison.Ordinal))
                {
                    if (!knownPaths.Contains(path))
                    {
                        warnings.Add($"The link “{label}” points to {path}, which doesn't exist or isn't published.");
                    }
                }
                else if (!IsSitePage(path))
                {
                    warnings.Add($"The link “{label}” points to {path}, which is not a page of this site.");
                }
            }
        }

        if (!emailHtml.Contains("/unsubscribe/", StringComparison.Ordinal) || !emailText.Contains("/unsubscribe/", StringComparison.Ordinal))
        {
            warnings.Add("The email has no unsubscribe link in its body. Check templates/email/issue.*.liquid: every issue must let the reader leave.");
        }

        return warnings;
    }

    /// <summary>
    /// Why an address only works on the author's machine or network, or null when it can work from anywhere:
    /// loopback, private and link-local addresses, and names that public DNS never answers for.
    /// </summary>
    internal static string? Unreachable(Uri uri)
    {
        var host = uri.Host.Trim('[', ']').TrimEnd('.').ToLowerInvariant();
        if (IPAddress.TryParse(host, out var ip))
        {
            if (ip.IsIPv4MappedToIPv6)
            {
                ip = ip.MapToIPv4();
            }

            if (IPAddress.IsLoopback(ip))
            {
                return "an address of your own computer";
            }

            if (ip.AddressFamily == AddressFamily.InterNetwork)
            {
                var b = ip.GetAddressBytes();
                return b[0] == 10 || (b[0] == 172 && b[1] is >= 16 and <= 31) || (b[0] == 192 && b[1] == 168) ? "an address on a private network"
                    : b[0] == 169 && b[1] == 254 ? "a link-local address"
                    : b[0] == 0 ? "an address nobody can reach"
                    : null;
            }

            var v6 = ip.GetAddressBytes();
            return (v6[0] & 0xFE) == 0xFC ? "an address on a private network"
                : ip.IsIPv6LinkLocal ? "a link-local address"
                : ip.Equals(IPAddress.IPv6Any) ? "an address nobody can reach"
                : null;
        }

        if (host == "localhost" || host.EndsWith(".localhost", StringComparison.Ordinal))
        {
            return "an address of your own computer";
        }

        foreach (var suffix in PrivateSuffixes)
        {
            if (host.EndsWith(suffix, StringComparison.Ordinal))
            {
                return $"a “{suffix}” name that only resolves on a private network";
            }
        }

        return host.Contains('.', StringComparison.Ordinal) ? null : "a name without a domain that only resolves on a private network";
    }

    /// <summary>Names reserved for local networks and testing (RFC 6762, RFC 6761) or in use for them (.internal).</summary>
    private static readonly string[] PrivateSuffixes = [".local", ".internal", ".test", ".invalid", ".lan", ".home.arpa"];

    /// <summary>The site's own pages other than notes and issues; readers' personal links (unsubscribe, preferences) included.</summary>
    private static bool IsSitePage(string path) =>
        path is "" or "/notes" or "/archive" or "/about" or "/tags" or "/search" or "/sitemap.xml" or "/robots.txt"
        || path.StartsWith("/tags/", StringComparison.Ordinal) || path.StartsWith("/feeds/", StringComparison.Ordinal)
        || path.StartsWith("/unsubscribe/", StringComparison.Ordinal) || path.StartsWith("/preferences", StringComparison.Ordinal)
        || path.StartsWith("/confirm/", StringComparison.Ordinal);
}
