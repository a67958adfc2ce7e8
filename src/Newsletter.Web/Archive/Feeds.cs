using System.ServiceModel.Syndication;
using System.Text;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Archive;

public sealed record FeedEntry(string Url, string Title, string Summary, string Html, DateTime Published, DateTime Updated, IReadOnlyList<string> Tags);

/// <param name="Author">The bio's name (<see cref="Author.AuthorIdentity"/>), or Site:AuthorName.</param>
public sealed record FeedDocument(string Title, string Description, string HomePath, string FeedPath, DateTime Updated, IReadOnlyList<FeedEntry> Entries, string Author);

/// <summary>
/// Feeds for readers who follow without email. One address scheme, three formats each:
/// /feeds/notes.{rss|atom|json}, /feeds/issues.{rss|atom|json} and /feeds/tags/{tag}.{rss|atom|json}
/// (a tag's feed holds its notes and its issues). Every URL in a feed is absolute, every entry carries the
/// full sanitised HTML, and the same visibility rules as the pages decide what is in it.
/// </summary>
public static class Feeds
{
    public static readonly IReadOnlyList<(string Format, string MediaType, string Label)> Formats =
    [
        ("rss", "application/rss+xml", "RSS"),
        ("atom", "application/atom+xml", "Atom"),
        ("json", "application/feed+json", "JSON Feed"),
    ];

    public static async Task<IResult> ForKindAsync(string kind, string format, AppDbContext db, IOptions<SiteOptions> site, IOptions<ArchiveOptions> options, Author.AuthorIdentity author, CancellationToken ct)
    {
        if (!IsFormat(format))
        {
            return Results.NotFound();
        }

        var s = site.Value;
        var count = Math.Clamp(options.Value.FeedItems, 1, 200);
        var entries = kind switch
        {
            "notes" => await NoteEntriesAsync(PublicContent.Notes(db), count, ct),
            "issues" => await IssueEntriesAsync(PublicContent.Issues(db), count, ct),
            _ => null,
        };
        if (entries is null)
        {
            return Results.NotFound();
        }

        var (title, home) = kind == "notes" ? ($"{s.Title}: notes", "/notes") : ($"{s.Title}: issues", "/archive");
        var description = kind == "notes" ? "Working notes: short, dated, written while the work happens." : "Every issue of the newsletter, as published on the web.";
        var document = new FeedDocument(title, description, home, $"/feeds/{kind}.{format}", await UpdatedAsync(db, entries, ct), entries, await author.NameAsync(ct));
        return Write(document, format, s);
    }

    public static async Task<IResult> ForTagAsync(string tag, string format, AppDbContext db, IOptions<SiteOptions> site, IOptions<ArchiveOptions> options, Author.AuthorIdentity author, CancellationToken ct)
    {
        if (!IsFormat(format))
        {
            return Results.NotFound();
        }

        var normalized = Tags.Normalize(tag);
        if (normalized.Length == 0)
        {
            return Results.NotFound();
        }

        if (normalized != tag)
        {
            return Results.Redirect($"/feeds/tags/{normalized}.{format}", permanent: true);
        }

        var count = Math.Clamp(options.Value.FeedItems, 1, 200);
        var notes = await NoteEntriesAsync(PublicContent.Notes(db).Where(n => n.Tags.Any(t => t.Tag == tag)), count, ct);
        var issues = await IssueEntriesAsync(PublicContent.Issues(db).Where(i => i.Tags.Any(t => t.Tag == tag)), count, ct);
        var entries = notes.Concat(issues).OrderByDescending(e => e.Published).Take(count).ToList();
        if (entries.Count == 0)
        {
            return Results.NotFound();
        }

        var s = site.Value;
        var document = new FeedDocument($"{s.Title}: #{tag}", $"Notes and issues tagged #{tag}.", $"/tags/{tag}", $"/feeds/tags/{tag}.{format}", await UpdatedAsync(db, entries, ct), entries, await author.NameAsync(ct));
        return Write(document, format, s);
    }

    /// <summary>The feed links a page advertises with link rel="alternate", so readers and browsers can find them.</summary>
    public static IEnumerable<(string Href, string MediaType, string Title)> Alternates(string basePath, string title) =>
        Formats.Select(f => ($"{basePath}.{f.Format}", f.MediaType, $"{title} ({f.Label})"));

    private static bool IsFormat(string format) => Formats.Any(f => f.Format == format);

    private static async Task<List<FeedEntry>> NoteEntriesAsync(IQueryable<Note> notes, int count, CancellationToken ct)
    {
        var rows = await notes.AsNoTracking().OrderByDescending(n => n.Date).ThenByDescending(n => n.Id).Take(count)
            .Select(n => new { n.Slug, n.Title, n.Summary, n.PlainText, n.Html, n.Date, n.UpdatedAt, Tags = n.Tags.Select(t => t.Tag).ToList() })
            .ToListAsync(ct);
        return [.. rows.Select(n => new FeedEntry($"/notes/{n.Slug}", n.Title, SummaryOf(n.Summary, n.PlainText), n.Html, n.Date, Max(n.Date, n.UpdatedAt), [.. n.Tags.Order(StringComparer.Ordinal)]))];
    }

    private static async Task<List<FeedEntry>> IssueEntriesAsync(IQueryable<Issues.Issue> issues, int count, CancellationToken ct)
    {
        var rows = await issues.AsNoTracking().OrderByDescending(i => i.PublishedAt).ThenByDescending(i => i.Id).Take(count)
            .Select(i => new { i.Slug, i.Subject, i.Summary, i.PlainText, i.Html, i.PublishedAt, i.UpdatedAt, Tags = i.Tags.Select(t => t.Tag).ToList() })
            .ToListAsync(ct);
        return [.. rows.Select(i => new FeedEntry($"/issues/{i.Slug}", i.Subject, SummaryOf(i.Summary, i.PlainText), i.Html, i.PublishedAt!.Value, Max(i.PublishedAt!.Value, i.UpdatedAt), [.. i.Tags.Order(StringComparer.Ordinal)]))];
    }

    private static async Task<DateTime> UpdatedAsync(AppDbContext db, IReadOnlyList<FeedEntry> entries, CancellationToken ct) =>
        entries.Count > 0 ? entries.Max(e => e.Updated) : await PublicContent.LastChangedAsync(db, ct);

    private static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;

    /// <summary>
    /// An entry's HTML with absolute links: a feed reader has no base address for /notes/... links, and a footnote's
    /// #fn:1 would jump to whichever entry's fn:1 comes first, so it leads to the entry's own page.
    /// </summary>
    private static string Content(FeedEntry e, SiteOptions site) => Newsletter.Web.Content.ReaderHtml.Absolutize(e.Html, site.Absolute, page: e.Url);

    private static string SummaryOf(string summary, string plainText)
    {
        if (summary.Length > 0)
        {
            return summary;
        }

        var text = string.Join(' ', plainText.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return text.Length <= 280 ? text : text[..280].TrimEnd() + "…";
    }

    private static IResult Write(FeedDocument feed, string format, SiteOptions site) => format switch
    {
        "rss" => Results.Bytes(WriteXml(feed, site, rss: true), "application/rss+xml; charset=utf-8"),
        "atom" => Results.Bytes(WriteXml(feed, site, rss: false), "application/atom+xml; charset=utf-8"),
        _ => Results.Bytes(WriteJson(feed, site), "application/feed+json; charset=utf-8"),
    };

    private static byte[] WriteXml(FeedDocument document, SiteOptions site, bool rss)
    {
        var self = new Uri(site.Absolute(document.FeedPath));
        var feed = new SyndicationFeed(document.Title, document.Description, new Uri(site.Absolute(document.HomePath)), self.ToString(), new DateTimeOffset(document.Updated, TimeSpan.Zero))
        {
            Language = site.Language,
            Generator = "Newsletter",
        };
        feed.Links.Add(SyndicationLink.CreateSelfLink(self, rss ? "application/rss+xml" : "application/atom+xml"));
        feed.Authors.Add(new SyndicationPerson(null, document.Author, site.Absolute("/about")));
        feed.Items = document.Entries.Select(e =>
        {
            var url = site.Absolute(e.Url);
            var item = new SyndicationItem(e.Title, (SyndicationContent?)null, new Uri(url), url, new DateTimeOffset(e.Updated, TimeSpan.Zero))
            {
                PublishDate = new DateTimeOffset(e.Published, TimeSpan.Zero),
                // RSS readers read <description> as HTML, so a plain summary ("use <table> & <3") is encoded once more
                // for them; Atom says type="text" and takes it as it is.
                Summary = new TextSyndicationContent(rss ? System.Net.WebUtility.HtmlEncode(e.Summary) : e.Summary),
            };
            foreach (var tag in e.Tags)
            {
                item.Categories.Add(new SyndicationCategory(tag));
            }

            if (rss)
            {
                // RSS has no content element of its own; content:encoded is what every reader looks for.
                item.ElementExtensions.Add(new XElement(XName.Get("encoded", "http://purl.org/rss/1.0/modules/content/"), Content(e, site)).CreateReader());
            }
            else
            {
                item.Content = new TextSyndicationContent(Content(e, site), TextSyndicationContentKind.Html);
            }

            return item;
        }).ToList();

        using var stream = new MemoryStream();
        using (var writer = XmlWriter.Create(stream, new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = true }))
        {
            if (rss)
            {
                new Rss20FeedFormatter(feed, serializeExtensionsAsAtom: true).WriteTo(writer);
            }
            else
            {
                new Atom10FeedFormatter(feed).WriteTo(writer);
            }
        }

        return stream.ToArray();
    }

    /// <summary>JSON Feed 1.1 (https://jsonfeed.org/version/1.1).</summary>
    private static byte[] WriteJson(FeedDocument feed, SiteOptions site)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("version", "https://jsonfeed.org/version/1.1");
            w.WriteString("title", feed.Title);
            w.WriteString("home_page_url", site.Absolute(feed.HomePath));
            w.WriteString("feed_url", site.Absolute(feed.FeedPath));
            w.WriteString("description", feed.Description);
            w.WriteString("language", site.Language);
            // JSON Feed readers expect raster icons; the SVGs stay for browsers.
            w.WriteString("icon", site.Absolute(SocialCards.SocialCardStore.IconPath(site.Title)));
            w.WriteString("favicon", site.Absolute(SocialCards.SocialCardStore.IconPath(site.Title)));
            w.WriteStartArray("authors");
            WriteAuthor(w, site, feed.Author);
            w.WriteEndArray();
            w.WriteStartArray("items");
            foreach (var e in feed.Entries)
            {
                var url = site.Absolute(e.Url);
                w.WriteStartObject();
                w.WriteString("id", url);
                w.WriteString("url", url);
                w.WriteString("title", e.Title);
                w.WriteString("summary", e.Summary);
                w.WriteString("content_html", Content(e, site));
                w.WriteString("date_published", Rfc3339(e.Published));
                w.WriteString("date_modified", Rfc3339(e.Updated));
                w.WriteStartArray("tags");
                foreach (var tag in e.Tags)
                {
                    w.WriteStringValue(tag);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return stream.ToArray();
    }

    private static void WriteAuthor(Utf8JsonWriter w, SiteOptions site, string author)
    {
        w.WriteStartObject();
        w.WriteString("name", author);
        w.WriteString("url", site.Absolute("/about"));
        w.WriteEndObject();
    }

    private static string Rfc3339(DateTime utc) => DateTime.SpecifyKind(utc, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
