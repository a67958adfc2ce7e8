using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Site;

public sealed record IssueLink(int Number, string Subject, DateTime Date, string Url);

public sealed class HomeModel(AppDbContext db) : PageModel
{
    public IReadOnlyList<Note> Notes { get; private set; } = [];

    public IReadOnlyList<IssueLink> Issues { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct)
    {
        Notes = await db.Notes.AsNoTracking().Include(n => n.Tags)
            .Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null)
            .OrderByDescending(n => n.Date).ThenByDescending(n => n.Id).Take(6).ToListAsync(ct);
        Issues = await PublicIssues.LatestAsync(db, 5, ct);
    }
}
