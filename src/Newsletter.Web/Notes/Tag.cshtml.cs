using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Notes;

public sealed class TagModel(AppDbContext db) : PageModel
{
    public string Tag { get; private set; } = "";

    public IReadOnlyList<Note> Notes { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(string tag, CancellationToken ct)
    {
        Tag = global::Newsletter.Web.Notes.Tags.Normalize(tag);
        if (Tag.Length == 0)
        {
            return NotFound();
        }

        if (Tag != tag)
        {
            return RedirectPermanent($"/tags/{Tag}");
        }

        Notes = await db.Notes.AsNoTracking().Include(n => n.Tags)
            .Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null && n.Tags.Any(t => t.Tag == Tag))
            .OrderByDescending(n => n.Date).ThenByDescending(n => n.Id).ToListAsync(ct);
        return Notes.Count == 0 ? NotFound() : Page();
    }
}
