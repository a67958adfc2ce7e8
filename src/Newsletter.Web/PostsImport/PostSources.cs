using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.ServiceModel.Syndication;
using System.Text;
using System.Text.Json;
using System.Xml;
using Newsletter.Web.Notes;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Web.PostsImport;

/// <summary>The PostImport section of appsettings.json.</summary>
public sealed class PostImportOptions
{
    /// <summary>An export (zip, JSON or feed) larger than this is refused before it is read.</summary>
    [Range(1, 500)]
    public int MaxFileMegabytes { get; set; } = 50;

    /// <summary>At most this many images are downloaded per import; the rest keep their original address and are reported.</summary>
    [Range(0, 10_000)]
    public int MaxImages { get; set; } = 300;

    [Range(1, 120)]
    public int DownloadTimeoutSeconds { get; set; } = 15;

    /// <summary>For tests and closed networks only: lets downloads reach loopback and private addresses.</summary>
    public bool AllowPrivateAddresses { get; set; }

    public long MaxFileBytes => MaxFileMegabytes * 1024L * 1024L;
}

/// <summary>A post as another platform exported it, its body still HTML.</summary>
public sealed record ImportedPost(string Title, string Slug, DateTime Date, string Html, string Summary, IReadOnlyList<string> Tags);

public sealed record PostSource(string Platform, IReadOnlyList<ImportedPost> Posts, IReadOnlyList<string> Problems);

/// <summary>Why an export can't be read at all, in words for the author.</summary>
public sealed class PostImportException(string message) : Exception(message);

/// <summary>Reads a Substack export (zip), a Ghost export (JSON) or an RSS 2.0 / Atom feed into posts.</summary>
public static partial class PostSources
{
    /// <summary>
    /// A feed's title as text. Atom may mark a title as html or xhtml (<c>Ledgers &lt;em&gt;and&lt;/em&gt; leases</c>):
    /// its tags go, or the site would show them literally; entities are read either way, since RSS titles carry them.
    /// </summary>
    private static string TitleText(TextSyndicationContent? title)
    {
        var text = title?.Text ?? "";
        if (title?.Type is "html" or "xhtml")
        {
            text = Tag().Replace(text, "");
        }

        return Whitespace().Replace(WebUtility.HtmlDecode(text), " ").Trim();
    }

    [System.Text.RegularExpressions.GeneratedRegex("<[^>]*>")]
    private static partial System.Text.RegularExpressions.Regex Tag();

    [System.Text.RegularExpressions.GeneratedRegex(@"\s+")]
    private static partial System.Text.RegularExpressions.Regex Whitespace();

    public static PostSource Read(string fileName, byte[] content, long maxBytes)
    {
        if (content.LongLength > maxBytes)
        {
            throw new PostImportException($"{fileName} is {content.LongLength / 1024.0 / 1024.0:0.#} MB; the limit is {maxBytes / 1024 / 1024} MB (PostImport:MaxFileMegabytes).");
        }

        if (content.Length >= 4 && content[0] == 'P' && content[1] == 'K')
        {
            return Substack(content, maxBytes);
        }

        var start = Encoding.UTF8.GetString(content, 0, Math.Min(content.Length, 512)).TrimStart('\uFEFF', ' ', '\r', '\n', '\t');
        if (start.StartsWith('{'))
        {
            return Ghost(content);
        }

        if (start.StartsWith('<'))
        {
            return Feed(content);
        }

        throw new PostImportException($"{fileName} is not a Substack export (zip), a Ghost export (JSON) or an RSS/Atom feed.");
    }

    private static PostSource Substack(byte[] zip, long maxBytes)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        // A zip bomb declares its sizes honestly enough: the total is checked before anything is inflated.
        if (archive.Entries.Sum(e => e.Length) > maxBytes * 4)
        {
            throw new PostImportException($"The zip unpacks to more than {maxBytes * 4 / 1024 / 1024} MB; that is not a Substack export this site can take.");
        }

        var csv = archive.Entries.FirstOrDefault(e => e.FullName.Equals("posts.csv", StringComparison.OrdinalIgnoreCase) || e.FullName.EndsWith("/posts.csv", StringComparison.OrdinalIgnoreCase))
            ?? throw new PostImportException("The zip has no posts.csv: export your posts from Substack (Settings → Exports) and upload that zip as it is.");
        var html = archive.Entries.Where(e => e.FullName.EndsWith(".html", StringComparison.OrdinalIgnoreCase))
            .GroupBy(e => Path.GetFileNameWithoutExtension(e.Name), StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

        using var reader = new StreamReader(csv.Open(), Encoding.UTF8);
        var header = reader.ReadLine() ?? throw new PostImportException("posts.csv is empty.");
        var columns = header.TrimStart('\uFEFF').Split(',').Select(c => c.Trim().Trim('"').ToLowerInvariant()).ToList();
        int Column(string name) => columns.IndexOf(name);
        var (idCol, dateCol, publishedCol, titleCol, subtitleCol, typeCol) = (Column("post_id"), Column("post_date"), Column("is_published"), Column("title"), Column("subtitle"), Column("type"));
        var audienceCol = Column("audience");
        if (idCol < 0 || titleCol < 0)
        {
            throw new PostImportException("posts.csv has no post_id and title columns; is it Substack's?");
        }

        var posts = new List<ImportedPost>();
        var problems = new List<string>();
        foreach (var record in new CsvReader(reader, ',', firstLine: 2).Records())
        {
            string Field(int i) => i >= 0 && i < record.Fields.Length ? record.Fields[i].Trim() : "";
            if (record.Error is not null)
            {
                problems.Add($"posts.csv line {record.Line}: {record.Error}");
                continue;
            }

            if (publishedCol >= 0 && !Field(publishedCol).Equals("true", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (typeCol >= 0 && Field(typeCol) is { Length: > 0 } type && type is not ("newsletter" or "thread" or "post"))
            {
                // Podcasts and videos have no body to bring.
                problems.Add($"“{Field(titleCol)}” is a {type} post; skipped");
                continue;
            }

            if (audienceCol >= 0 && Field(audienceCol) is { Length: > 0 } audience && audience != "everyone")
            {
                // Everything this site publishes is public: a post Substack kept for paying (or signed-in) readers
                // would be given away to everyone. The author can still bring it by hand.
                problems.Add($"“{Field(titleCol)}” is for {audience.Replace('_', ' ')} readers on Substack, and everything here is public; skipped");
                continue;
            }

            var id = Field(idCol);
            if (!html.TryGetValue(id, out var entry))
            {
                problems.Add($"“{Field(titleCol)}”: posts/{id}.html is not in the zip; skipped");
                continue;
            }

            using var body = new StreamReader(entry.Open(), Encoding.UTF8);
            var slug = id.Contains('.', StringComparison.Ordinal) ? id[(id.IndexOf('.', StringComparison.Ordinal) + 1)..] : id;
            posts.Add(new ImportedPost(Field(titleCol), slug, ParseDate(Field(dateCol)), body.ReadToEnd(), Field(subtitleCol), []));
        }

        return new PostSource("Substack", posts, problems);
    }

    private static PostSource Ghost(byte[] json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new PostImportException($"The JSON can't be read: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            var db = root.TryGetProperty("db", out var dbArray) && dbArray.ValueKind == JsonValueKind.Array && dbArray.GetArrayLength() > 0 ? dbArray[0] : root;
            if (!db.TryGetProperty("data", out var data) || !data.TryGetProperty("posts", out var postsArray) || postsArray.ValueKind != JsonValueKind.Array)
            {
                throw new PostImportException("The JSON has no db[0].data.posts; is it a Ghost export (Settings → Labs → Export)?");
            }

            var tags = new Dictionary<string, string>(StringComparer.Ordinal);
            if (data.TryGetProperty("tags", out var tagArray) && tagArray.ValueKind == JsonValueKind.Array)
            {
                foreach (var t in tagArray.EnumerateArray())
                {
                    tags[Text(t, "id")] = Text(t, "name");
                }
            }

            var postTags = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            if (data.TryGetProperty("posts_tags", out var links) && links.ValueKind == JsonValueKind.Array)
            {
                foreach (var link in links.EnumerateArray())
                {
                    if (tags.TryGetValue(Text(link, "tag_id"), out var name) && !name.StartsWith('#'))
                    {
                        (postTags.TryGetValue(Text(link, "post_id"), out var list) ? list : postTags[Text(link, "post_id")] = []).Add(name);
                    }
                }
            }

            var posts = new List<ImportedPost>();
            var problems = new List<string>();
            foreach (var p in postsArray.EnumerateArray())
            {
                var title = Text(p, "title");
                if (Text(p, "type") == "page" || Text(p, "status") is "draft" or "scheduled" or "")
                {
                    continue;
                }

                if (Text(p, "status") != "published")
                {
                    // "sent": mailed to members and never on the web; published here it would be public for the first time.
                    problems.Add($"“{title}” is {Text(p, "status")} on Ghost (by email only, never on the web); skipped");
                    continue;
                }

                if (Text(p, "visibility") is { Length: > 0 } visibility && visibility != "public")
                {
                    problems.Add($"“{title}” is for {visibility} readers on Ghost, and everything here is public; skipped");
                    continue;
                }

                var html = Text(p, "html");
                if (html.Length == 0 && Text(p, "lexical") is { Length: > 0 } lexical)
                {
                    html = GhostBodies.LexicalToHtml(lexical);
                }
                else if (html.Length == 0 && Text(p, "mobiledoc") is { Length: > 0 } mobiledoc)
                {
                    html = GhostBodies.MobiledocToHtml(mobiledoc);
                }

                if (html.Length == 0)
                {
                    problems.Add($"“{title}” has no body (html, lexical or mobiledoc); skipped");
                    continue;
                }

                if (html.Contains(GhostUrl, StringComparison.Ordinal))
                {
                    // Ghost writes its own address as __GHOST_URL__ and the export does not say what it was, so those
                    // images can't be fetched and those links lead nowhere: said, not dropped in silence.
                    var count = html.Split(GhostUrl).Length - 1;
                    problems.Add($"“{title}”: {count} image(s) or link(s) point at {GhostUrl}/..., Ghost's stand-in for its own address, which the export leaves out; "
                        + "they are left out. Put the images back by hand, or replace __GHOST_URL__ in the export with the old site's address (https://...) and import again");
                }

                var date = Text(p, "published_at") is { Length: > 0 } published ? ParseDate(published) : ParseDate(Text(p, "created_at"));
                posts.Add(new ImportedPost(title, Text(p, "slug"), date, html, Text(p, "custom_excerpt"), postTags.GetValueOrDefault(Text(p, "id")) ?? []));
            }

            return new PostSource("Ghost", posts, problems);
        }
    }

    private static PostSource Feed(byte[] xml)
    {
        SyndicationFeed feed;
        List<SyndicationItem> items;
        bool atom;
        var unreadableDates = new List<string>();
        // No DTDs: an entity expansion (billion laughs) or an external entity (a local file) never gets read.
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, MaxCharactersInDocument = xml.LongLength * 2 + 1024 };
        try
        {
            using var reader = XmlReader.Create(new MemoryStream(xml), settings);
            SyndicationFeedFormatter formatter = new Atom10FeedFormatter();
            if (!formatter.CanRead(reader))
            {
                formatter = new Rss20FeedFormatter();
            }

            // A date the formatter can't read ("Donnerstag, 07 Mär 2024") threw out of the item loop and took the
            // whole import down with a stack trace; it now reads as no date, and that one post is reported.
            var strict = formatter.DateTimeParser;
            formatter.DateTimeParser = (XmlDateTimeData data, out DateTimeOffset value) =>
            {
                if (strict(data, out value))
                {
                    return true;
                }

                unreadableDates.Add(data.DateTimeString);
                value = default;
                return true;
            };
            formatter.ReadFrom(reader);
            feed = formatter.Feed;
            // Items are read lazily: taken here, so a broken item is this sentence too, not an exception later.
            items = [.. feed.Items];
            atom = Encoding.UTF8.GetString(xml, 0, Math.Min(xml.Length, 2048)).Contains("http://www.w3.org/2005/Atom", StringComparison.Ordinal) && !Encoding.UTF8.GetString(xml, 0, Math.Min(xml.Length, 2048)).Contains("<rss", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is XmlException or InvalidOperationException or FormatException)
        {
            throw new PostImportException($"The feed can't be read: {e.Message}");
        }

        var posts = new List<ImportedPost>();
        var problems = new List<string>();
        foreach (var item in items)
        {
            var title = TitleText(item.Title) is { Length: > 0 } t ? t : "Untitled";
            var encoded = item.ElementExtensions.FirstOrDefault(x => x.OuterName == "encoded");
            var html = encoded?.GetReader().ReadElementContentAsString()
                ?? (item.Content as TextSyndicationContent)?.Text
                ?? item.Summary?.Text
                ?? "";
            // RSS descriptions are HTML by custom; Atom says so, and its "text" content is plain text.
            var plain = encoded is null && (item.Content is TextSyndicationContent { Type: "text" } || (item.Content is null && atom && item.Summary?.Type == "text"));
            if (plain)
            {
                html = "<p>" + WebUtility.HtmlEncode(html) + "</p>";
            }

            var link = item.Links.FirstOrDefault(l => l.RelationshipType is null or "alternate")?.Uri;
            var slug = link is { IsAbsoluteUri: true } ? SlugOf(link) : "";
            var date = item.PublishDate != default ? item.PublishDate.UtcDateTime : item.LastUpdatedTime.UtcDateTime;
            if (html.Trim().Length == 0)
            {
                problems.Add($"“{title}” has no content in the feed; skipped");
                continue;
            }

            if (date == default)
            {
                // Dated 0001-01-01 before, silently. Each post's date orders the archive and numbers the issues.
                problems.Add($"“{title}” has no date this site can read"
                    + (unreadableDates.Count > 0 ? $" (the feed's dates include '{unreadableDates[0]}'; RSS wants RFC 822, as in 'Thu, 07 Mar 2024 10:00:00 GMT')" : " (no pubDate)")
                    + "; skipped");
                continue;
            }

            var summary = item.Summary?.Text is { } s && (item.Content is not null || encoded is not null) ? NoteImporter.Excerpt(Content.MarkdownRenderer.PlainTextOf(s)) : "";
            posts.Add(new ImportedPost(title, slug, date, html, summary, [.. item.Categories.Select(c => c.Name).Where(n => !string.IsNullOrWhiteSpace(n))]));
        }

        return new PostSource(TitleText(feed.Title) is { Length: > 0 } name ? $"Feed ({name})" : "Feed", posts, problems);
    }

    private const string GhostUrl = "__GHOST_URL__";

    /// <summary>
    /// The slug a feed item's link gives: its last path segment, unescaped ("%C3%BCber-alles" is "über-alles", not
    /// "c3-bcber-alles"), without an extension, and the folder's name when the page is its index.html.
    /// </summary>
    internal static string SlugOf(Uri link)
    {
        var segments = link.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToList();
        if (segments.Count > 1 && Path.GetFileNameWithoutExtension(segments[^1]).Equals("index", StringComparison.OrdinalIgnoreCase))
        {
            segments.RemoveAt(segments.Count - 1);
        }

        return segments.Count == 0 ? "" : Path.GetFileNameWithoutExtension(segments[^1]);
    }

    private static string Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

    private static DateTime ParseDate(string value) =>
        DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d) ? d.UtcDateTime : DateTime.UnixEpoch;
}
