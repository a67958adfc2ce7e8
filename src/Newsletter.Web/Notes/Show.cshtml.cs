using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Notes;

public sealed record NoteLink(string Slug, string Title);

public sealed class ShowModel(AppDbContext db, IOptions<SiteOptions> site, Replies.ReplyComments comments, Author.AuthorIdentity author) : PageModel
{
    public IReadOnlyList<Replies.PublicComment> Comments { get; private set; } = [];

    public Note? Note { get; private set; }

    public NoteLink? Newer { get; private set; }

    public NoteLink? Older { get; private set; }

    public string JsonLd { get; private set; } = "";

    public async Task<IActionResult> OnGetAsync(string slug, CancellationToken ct)
    {
        if (!NoteFile.IsValidSlug(slug))
        {
            return NotFound();
        }

        Note = await db.Notes.AsNoTracking().Include(n => n.Tags).FirstOrDefaultAsync(n => n.Slug == slug && n.Kind == NoteKind.Note, ct);
        if (Note?.DeletedAt is not null)
        {
            return StatusCode(StatusCodes.Status410Gone);
        }

        if (Note is null || Note.Status != NoteStatus.Published)
        {
            return NotFound();
        }

        Comments = await comments.ForNoteAsync(Note.Id, ct);
        var published = db.Notes.AsNoTracking().Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null);
        Newer = await published.Where(n => n.Date > Note.Date || (n.Date == Note.Date && n.Id > Note.Id))
            .OrderBy(n => n.Date).ThenBy(n => n.Id).Select(n => new NoteLink(n.Slug, n.Title)).FirstOrDefaultAsync(ct);
        Older = await published.Where(n => n.Date < Note.Date || (n.Date == Note.Date && n.Id < Note.Id))
            .OrderByDescending(n => n.Date).ThenByDescending(n => n.Id).Select(n => new NoteLink(n.Slug, n.Title)).FirstOrDefaultAsync(ct);

        var s = site.Value;
        JsonLd = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["@context"] = "https://schema.org",
            ["@type"] = "BlogPosting",
            ["headline"] = Note.Title,
            ["description"] = Note.Summary,
            ["datePublished"] = Note.Date.ToString("yyyy-MM-dd"),
            ["dateModified"] = Note.UpdatedAt.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["url"] = s.Absolute($"/notes/{Note.Slug}"),
            ["keywords"] = string.Join(", ", Note.TagNames),
            ["author"] = new Dictionary<string, string> { ["@type"] = "Person", ["name"] = await author.NameAsync(ct), ["url"] = s.Absolute("/about") },
        });
        return Page();
    }
}
