using System.Net;
using System.Text;
using AngleSharp.Html.Parser;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Issues;

/// <summary>
/// Renders an issue's body once per change: its Markdown, then each included note as a section that links
/// to the note's page. The result is sanitised like every other piece of content.
/// </summary>
public sealed class IssueComposer(AppDbContext db, MarkdownRenderer markdown, IOptions<SiteOptions> site, Images.ImageStore images, IOptions<Images.ImageOptions> imageOptions)
{
    public async Task ComposeAsync(Issue issue, CancellationToken ct)
    {
        var noteIds = issue.Notes.OrderBy(n => n.Position).Select(n => n.NoteId).ToList();
        var notes = await db.Notes.AsNoTracking().Where(n => noteIds.Contains(n.Id)).ToListAsync(ct);
        var html = new StringBuilder(markdown.Render(issue.Markdown).Html);
        var text = new StringBuilder(MarkdownRenderer.PlainTextOf(html.ToString()));
        foreach (var note in noteIds.Select(id => notes.FirstOrDefault(n => n.Id == id)).OfType<Note>())
        {
            var url = site.Value.Absolute($"/notes/{note.Slug}");
            html.Append("\n<section class=\"included-note\">\n<h2><a href=\"").Append(WebUtility.HtmlEncode(url)).Append("\">")
                .Append(WebUtility.HtmlEncode(note.Title)).Append("</a></h2>\n").Append(note.Html).Append("\n</section>\n");
            text.Append("\n\n").Append(note.Title).Append('\n').Append(new string('-', Math.Min(60, note.Title.Length))).Append('\n')
                .Append(note.PlainText).Append("\n\nRead it on the site: ").Append(url).Append('\n');
        }

        var clean = markdown.Sanitize(html.ToString());
        issue.Html = Absolutize(clean, await images.FactsAsync(clean, ct));
        issue.PlainText = text.ToString().Trim();
        if (string.IsNullOrWhiteSpace(issue.Summary))
        {
            issue.Summary = NoteImporter.Excerpt(issue.PlainText);
        }
    }

    /// <summary>
    /// A site-relative link (<c>/notes/x</c>, as notes are written) works on the web and nowhere else: an
    /// inbox has no base address. The issue's HTML goes to both, so its links and images are made absolute.
    /// </summary>
    /// <remarks>
    /// An uploaded image also gets its size: stored at twice the email's width for sharp screens, it is shown at
    /// the email's width (600 px), which Outlook only honours as a width attribute, not as CSS.
    /// </remarks>
    private string Absolutize(string html, IReadOnlyDictionary<string, Images.StoredImage> uploaded)
    {
        if (!html.Contains("=\"/", StringComparison.Ordinal))
        {
            return html;
        }

        var document = new HtmlParser().ParseDocument("<!DOCTYPE html><html><body>" + html + "</body></html>");
        foreach (var (element, attribute) in document.QuerySelectorAll("a[href]").Select(e => (e, "href"))
            .Concat(document.QuerySelectorAll("img[src]").Select(e => (e, "src"))))
        {
            var value = element.GetAttribute(attribute) ?? "";
            if (attribute == "src" && uploaded.TryGetValue(value, out var image) && image.Width > 0)
            {
                var width = Math.Min(imageOptions.Value.EmailWidth, image.Width);
                element.SetAttribute("width", width.ToString(System.Globalization.CultureInfo.InvariantCulture));
                element.SetAttribute("height", Math.Max(1, (int)Math.Round((double)image.Height * width / image.Width)).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            if (value.StartsWith('/') && !value.StartsWith("//", StringComparison.Ordinal))
            {
                element.SetAttribute(attribute, site.Value.Absolute(value));
            }
        }

        return document.Body!.InnerHtml;
    }
}
