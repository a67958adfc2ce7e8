using System.Globalization;
using System.Text;
using System.Xml;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Archive;

/// <summary>sitemap.xml and robots.txt: what search engines may index, from the same visibility rules as the pages.</summary>
public static class Sitemap
{
    private const string Namespace = "http://www.sitemaps.org/schemas/sitemap/0.9";

    public static async Task<IResult> XmlAsync(AppDbContext db, IOptions<SiteOptions> site, CancellationToken ct)
    {
        var s = site.Value;
        var notes = await PublicContent.Notes(db).AsNoTracking().OrderByDescending(n => n.Date)
            .Select(n => new { n.Slug, n.UpdatedAt }).ToListAsync(ct);
        var issues = await PublicContent.Issues(db).AsNoTracking().OrderByDescending(i => i.PublishedAt)
            .Select(i => new { i.Slug, i.UpdatedAt }).ToListAsync(ct);
        var noteTags = await db.NoteTags.Where(t => PublicContent.Notes(db).Any(n => n.Id == t.NoteId)).Select(t => t.Tag).Distinct().ToListAsync(ct);
        var issueTags = await db.IssueTags.Where(t => PublicContent.Issues(db).Any(i => i.Id == t.IssueId)).Select(t => t.Tag).Distinct().ToListAsync(ct);
        var hasBio = await db.Notes.AnyAsync(n => n.Kind == NoteKind.Bio && n.Status == NoteStatus.Published && n.DeletedAt == null, ct);
        var lastChanged = await PublicContent.LastChangedAsync(db, ct);

        var urls = new List<(string Path, DateTime? Modified)> { ("/", lastChanged), ("/notes", lastChanged), ("/archive", lastChanged), ("/tags", lastChanged) };
        if (hasBio)
        {
            urls.Add(("/about", null));
        }

        // A <loc> is a URL, and a URL is ASCII: a tag like "ärger" goes as %C3%A4rger, or crawlers reject the entry.
        urls.AddRange(notes.Select(n => ($"/notes/{Uri.EscapeDataString(n.Slug)}", (DateTime?)n.UpdatedAt)));
        urls.AddRange(issues.Select(i => ($"/issues/{Uri.EscapeDataString(i.Slug)}", (DateTime?)i.UpdatedAt)));
        urls.AddRange(noteTags.Union(issueTags).Order(StringComparer.Ordinal).Select(t => ($"/tags/{Uri.EscapeDataString(t)}", (DateTime?)null)));

        using var stream = new MemoryStream();
        using (var w = XmlWriter.Create(stream, new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = true }))
        {
            w.WriteStartDocument();
            w.WriteStartElement("urlset", Namespace);
            foreach (var (path, modified) in urls)
            {
                w.WriteStartElement("url", Namespace);
                w.WriteElementString("loc", Namespace, s.Absolute(path));
                if (modified is { } m)
                {
                    w.WriteElementString("lastmod", Namespace, m.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
                }

                w.WriteEndElement();
            }

            w.WriteEndElement();
        }

        return Results.Bytes(stream.ToArray(), "application/xml; charset=utf-8");
    }

    public static IResult RobotsTxt(IOptions<SiteOptions> site) => Results.Text(
        $"""
        User-agent: *
        Disallow: /admin/
        Disallow: /search
        Allow: /

        Sitemap: {site.Value.Absolute("/sitemap.xml")}

        """,
        "text/plain; charset=utf-8");
}
