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
            text.Append("\n\n").Append(note.Title).Append('\n').Append(new string('-', Math.Min(60, note.Title.Length))).Append('\n')
                .Append(note.PlainText).Append("\n\nRead it on the site: ").Append(url).Append('\n');
        }

        issue.Html = markdown.Sanitize(html.ToString());
        issue.PlainText = text.ToString().Trim();
        if (string.IsNullOrWhiteSpace(issue.Summary))
        {
            issue.Summary = NoteImporter.Excerpt(issue.PlainText);
        }
    }
}
