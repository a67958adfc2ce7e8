using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Site;

/// <summary>An issue on the home page; Date is in the author's zone (Site:TimeZone), like every date the site shows.</summary>
public sealed record IssueLink(int Number, string Subject, DateTime Date, string Url);

public sealed class HomeModel(AppDbContext db, Microsoft.Extensions.Options.IOptions<SiteOptions> site) : PageModel
{
    public IReadOnlyList<Note> Notes { get; private set; } = [];

    public IReadOnlyList<IssueLink> Issues { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct)
    {
        Notes = await db.Notes.AsNoTracking().Include(n => n.Tags)
            .Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null)
            .OrderByDescending(n => n.Date).ThenByDescending(n => n.Id).Take(6).ToListAsync(ct);
        Issues = await PublicIssues.LatestAsync(db, site.Value, 5, ct);
    }
}
