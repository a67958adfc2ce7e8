using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Archive;
using Newsletter.Web.Data;

namespace Newsletter.Web.Notes;

/// <summary>Every tag in use on public notes and issues, most used first.</summary>
public sealed class TagsModel(AppDbContext db) : PageModel
{
    public IReadOnlyList<(string Tag, int Count)> All { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct)
    {
        var notes = await db.NoteTags.AsNoTracking()
            .Where(t => PublicContent.Notes(db).Any(n => n.Id == t.NoteId))
            .GroupBy(t => t.Tag).Select(g => new { Tag = g.Key, Count = g.Count() }).ToListAsync(ct);
        var issues = await db.IssueTags.AsNoTracking()
            .Where(t => PublicContent.Issues(db).Any(i => i.Id == t.IssueId))
            .GroupBy(t => t.Tag).Select(g => new { Tag = g.Key, Count = g.Count() }).ToListAsync(ct);
        All = [.. notes.Concat(issues).GroupBy(r => r.Tag, StringComparer.Ordinal)
            .Select(g => (Tag: g.Key, Count: g.Sum(r => r.Count)))
            .OrderByDescending(r => r.Count).ThenBy(r => r.Tag, StringComparer.Ordinal)];
    }
}
