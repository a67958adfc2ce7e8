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
        // The visible sets are built out here: a method call inside the lambda is re-evaluated by EF's
        // funcletizer on every execution, even when the translated query comes from its cache.
        var publicNotes = PublicContent.Notes(db);
        var publicIssues = PublicContent.Issues(db);
        var notes = await db.NoteTags.AsNoTracking()
            .Where(t => publicNotes.Any(n => n.Id == t.NoteId))
            .GroupBy(t => t.Tag).Select(g => new { Tag = g.Key, Count = g.Count() }).ToListAsync(ct);
        var issues = await db.IssueTags.AsNoTracking()
            .Where(t => publicIssues.Any(i => i.Id == t.IssueId))
            .GroupBy(t => t.Tag).Select(g => new { Tag = g.Key, Count = g.Count() }).ToListAsync(ct);
        All = [.. notes.Concat(issues).GroupBy(r => r.Tag, StringComparer.Ordinal)
            .Select(g => (Tag: g.Key, Count: g.Sum(r => r.Count)))
            .OrderByDescending(r => r.Count).ThenBy(r => r.Tag, StringComparer.Ordinal)];
    }
}
