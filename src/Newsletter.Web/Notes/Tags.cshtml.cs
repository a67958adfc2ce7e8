using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Notes;

public sealed class TagsModel(AppDbContext db) : PageModel
{
    public IReadOnlyList<(string Tag, int Count)> All { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct)
    {
        var rows = await db.NoteTags.AsNoTracking()
            .Where(t => db.Notes.Any(n => n.Id == t.NoteId && n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null))
            .GroupBy(t => t.Tag).Select(g => new { Tag = g.Key, Count = g.Count() }).ToListAsync(ct);
        All = [.. rows.OrderByDescending(r => r.Count).ThenBy(r => r.Tag, StringComparer.Ordinal).Select(r => (r.Tag, r.Count))];
    }
}
