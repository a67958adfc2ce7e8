using System.Net;
using System.Text;
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
        var position = 0;
        foreach (var note in noteIds.Select(id => notes.FirstOrDefault(n => n.Id == id)).OfType<Note>())
        {
            position++;
            var url = site.Value.Absolute($"/notes/{note.Slug}");
            html.Append("\n<section class=\"included-note\">\n<h2><a href=\"").Append(WebUtility.HtmlEncode(url)).Append("\">")
                .Append(WebUtility.HtmlEncode(note.Title)).Append("</a></h2>\n").Append(ReaderHtml.PrefixFootnotes(note.Html, $"note{position}-")).Append("\n</section>\n");
            // The search text: the email's text is written from the HTML when it is sent (EmailText).
            text.Append("\n\n").Append(MarkdownRenderer.PlainTextOf("<h2>" + WebUtility.HtmlEncode(note.Title) + "</h2>")).Append('\n').Append(note.PlainText);
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
    private string Absolutize(string html, IReadOnlyDictionary<string, Images.StoredImage> uploaded) =>
        ReaderHtml.Absolutize(html, site.Value.Absolute, element =>
        {
            if (uploaded.TryGetValue(element.GetAttribute("src") ?? "", out var image) && image.Width > 0)
            {
                var width = Math.Min(imageOptions.Value.EmailWidth, image.Width);
                element.SetAttribute("width", width.ToString(System.Globalization.CultureInfo.InvariantCulture));
                element.SetAttribute("height", Math.Max(1, (int)Math.Round((double)image.Height * width / image.Width)).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        });
}
