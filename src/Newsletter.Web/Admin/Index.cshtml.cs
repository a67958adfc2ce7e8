using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Admin;

public sealed class DashboardModel(AppDbContext db) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "welcome")]
    public bool Welcome { get; set; }

    public int PublishedNotes { get; private set; }

    public int DraftNotes { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        var notes = db.Notes.Where(n => n.Kind == NoteKind.Note && n.DeletedAt == null);
        PublishedNotes = await notes.CountAsync(n => n.Status == NoteStatus.Published, ct);
        DraftNotes = await notes.CountAsync(n => n.Status == NoteStatus.Draft, ct);
    }
}
