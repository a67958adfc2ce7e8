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
public sealed class IssueComposer(AppDbContext db, MarkdownRenderer markdown, IOptions<SiteOptions> site)
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
            // The search text: the email's text is written from the HTML when it is sent (EmailText).
            text.Append("\n\n").Append(MarkdownRenderer.PlainTextOf("<h2>" + WebUtility.HtmlEncode(note.Title) + "</h2>")).Append('\n').Append(note.PlainText);
        }

        issue.Html = Absolutize(markdown.Sanitize(html.ToString()));
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
    private string Absolutize(string html)
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
            if (value.StartsWith('/') && !value.StartsWith("//", StringComparison.Ordinal))
            {
                element.SetAttribute(attribute, site.Value.Absolute(value));
            }
        }

        return document.Body!.InnerHtml;
    }
}
