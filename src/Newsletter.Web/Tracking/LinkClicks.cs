using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Tracking;

/// <summary>
/// Optional, aggregate link-click counting (<c>Tracking:LinkClicks</c>). At send preparation each web link of
/// the issue's body becomes /r/{issue}/{number}, the same for every reader; a click adds one to that link's
/// counter and nothing else is written.
/// </summary>
public sealed partial class LinkClicks(AppDbContext db, IOptions<TrackingOptions> options, IOptions<SiteOptions> site, TimeProvider clock)
{
    /// <summary>Longer addresses stay as written: a unique index on PostgreSQL holds at most about 2,700 bytes.</summary>
    public const int MaxUrlLength = 2000;

    /// <summary>
    /// Link checkers that mail filters and chat apps run on every link of a message, which would count a click
    /// for each copy delivered. Matched case-insensitively anywhere in the User-Agent; a request without one
    /// is no reader's browser either.
    /// </summary>
    public static readonly string[] Scanners =
    [
        "bot", "spider", "crawl", "preview", "scanner", "Barracuda", "Mimecast", "Proofpoint", "Microsoft Office",
        "Google-Safety", "SafeLinks", "curl", "wget", "python", "Go-http-client", "HeadlessChrome",
    ];

    public bool Enabled => options.Value.LinkClicks;

    /// <summary>
    /// The issue's body with each http(s) link replaced by its counting address, or the body as it is when
    /// counting is off. Only the body: the template's own links (unsubscribe, preferences, the web copy) stay.
    /// Safe to run again for the same issue: an address keeps the number it was given first.
    /// </summary>
    public async Task<string> RewriteAsync(int issueId, string html, CancellationToken ct)
    {
        if (!Enabled)
        {
            return html;
        }

        var urls = Anchors().Matches(html).Select(m => WebUtility.HtmlDecode(m.Groups["url"].Value)).Where(Countable).Distinct(StringComparer.Ordinal).ToList();
        if (urls.Count == 0)
        {
            return html;
        }

        var numbers = await NumbersAsync(issueId, urls, ct);
        return Anchors().Replace(html, m =>
        {
            var url = WebUtility.HtmlDecode(m.Groups["url"].Value);
            return numbers.TryGetValue(url, out var number)
                ? m.Groups["head"].Value + WebUtility.HtmlEncode(Address(issueId, number)) + "\""
                : m.Value;
        });
    }

    public string Address(int issueId, int number) =>
        site.Value.Absolute(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"/r/{issueId}/{number}"));

    /// <summary>Gives each address not yet numbered the next number, in order, and returns every number.</summary>
    private async Task<Dictionary<string, int>> NumbersAsync(int issueId, List<string> urls, CancellationToken ct)
    {
        var known = await Known(issueId, ct);
        foreach (var url in urls)
        {
            // Insert-or-ignore: two workers preparing the same issue at once may both try; one number per
            // address and one address per number survive, and the loser reads what the winner wrote.
            for (var attempt = 0; !known.ContainsKey(url); attempt++)
            {
                if (attempt == 10)
                {
                    throw new InvalidOperationException($"Issue {issueId}: could not number the link {url}.");
                }

                await db.Database.ExecuteSqlAsync(
                    $"""
                    INSERT INTO "IssueLinks" ("IssueId", "Number", "Url", "Clicks")
                    SELECT {issueId}, COALESCE(MAX("Number"), 0) + 1, {url}, 0 FROM "IssueLinks" WHERE "IssueId" = {issueId}
                    ON CONFLICT DO NOTHING
                    """, ct);
                known = await Known(issueId, ct);
            }
        }

        return known;
    }

    private Task<Dictionary<string, int>> Known(int issueId, CancellationToken ct) =>
        db.Set<IssueLink>().AsNoTracking().Where(l => l.IssueId == issueId).ToDictionaryAsync(l => l.Url, l => l.Number, StringComparer.Ordinal, ct);

    private static bool Countable(string url) =>
        url.Length <= MaxUrlLength
        && !url.Any(char.IsControl)
        && Uri.TryCreate(url, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp);

    /// <summary>The stored address of a link of this issue, or null: nothing else is ever redirected to.</summary>
    public Task<string?> FindAsync(int issueId, int number, CancellationToken ct) =>
        db.Set<IssueLink>().AsNoTracking().Where(l => l.IssueId == issueId && l.Number == number).Select(l => (string?)l.Url).FirstOrDefaultAsync(ct);

    /// <summary>One more open of the link, in one statement, so simultaneous clicks are all counted.</summary>
    public Task CountAsync(int issueId, int number, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return db.Set<IssueLink>().Where(l => l.IssueId == issueId && l.Number == number).ExecuteUpdateAsync(s => s
            .SetProperty(l => l.Clicks, l => l.Clicks + 1)
            .SetProperty(l => l.FirstClickAt, l => l.FirstClickAt ?? now)
            .SetProperty(l => l.LastClickAt, now), ct);
    }

    /// <summary>A click worth counting: a GET from a browser, not a prefetch and not a known link checker.</summary>
    public static bool IsReader(HttpRequest request)
    {
        if (!HttpMethods.IsGet(request.Method))
        {
            return false;
        }

        if (IsPrefetch(request.Headers["Purpose"]) || IsPrefetch(request.Headers["Sec-Purpose"]) || IsPrefetch(request.Headers["X-Purpose"]) || IsPrefetch(request.Headers["X-Moz"]))
        {
            return false;
        }

        var agent = request.Headers.UserAgent.ToString();
        return agent.Length > 0 && !Scanners.Any(s => agent.Contains(s, StringComparison.OrdinalIgnoreCase));
    }

    private static bool IsPrefetch(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Any(v => v is not null && (v.Contains("prefetch", StringComparison.OrdinalIgnoreCase) || v.Contains("preview", StringComparison.OrdinalIgnoreCase)));

    /// <summary>Where a redirect may point: the stored address, made ASCII for the Location header.</summary>
    public static string Location(string url) => Ascii.IsValid(url) ? url : new Uri(url).AbsoluteUri;

    // The body is HtmlSanitizer's output, serialised by AngleSharp: every attribute is double-quoted and
    // entity-encoded, so a pattern over <a ... href="..."> finds each link without re-serialising the HTML.
    [GeneratedRegex("""(?<head><a\b[^>]*?\shref=")(?<url>[^"]*)"(?=[^>]*>)""", RegexOptions.IgnoreCase)]
    private static partial Regex Anchors();
}
