using AngleSharp.Html.Parser;

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
        IReadOnlyDictionary<string, Images.StoredImage>? uploaded = null, Images.ImageOptions? images = null)
    {
        images ??= new Images.ImageOptions();
        var warnings = new List<string>();
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
                warnings.Add($"The link “{label}” has no address.");
            }
            else if (href.StartsWith('#'))
            {
                continue;
            }
            else if (!Uri.TryCreate(href, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "mailto"))
            {
                warnings.Add($"The link “{label}” points to “{href}”, which won't work from an inbox: use a full https:// address.");
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

    /// <summary>The site's own pages other than notes and issues; readers' personal links (unsubscribe, preferences) included.</summary>
    private static bool IsSitePage(string path) =>
        path is "" or "/notes" or "/archive" or "/about" or "/tags" or "/search" or "/sitemap.xml" or "/robots.txt"
        || path.StartsWith("/tags/", StringComparison.Ordinal) || path.StartsWith("/feeds/", StringComparison.Ordinal)
        || path.StartsWith("/unsubscribe/", StringComparison.Ordinal) || path.StartsWith("/preferences", StringComparison.Ordinal)
        || path.StartsWith("/confirm/", StringComparison.Ordinal);
}
