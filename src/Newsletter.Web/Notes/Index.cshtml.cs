using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Notes;

public sealed class IndexModel(AppDbContext db, IOptions<SiteOptions> site) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "tag")]
    public string? Tag { get; set; }

    // "page" is a route value Razor Pages reserves for the page's own name, so the query is read by hand.
    public int PageNumber => Newsletter.Web.Archive.PublicContent.PageOf(Request.Query["page"]);

    public IReadOnlyList<Note> Notes { get; private set; } = [];

    public int Total { get; private set; }

    public Pager Pager { get; private set; } = Pager.Empty;

    public string CanonicalPath => Tag is null ? (PageNumber > 1 ? $"/notes?page={PageNumber}" : "/notes") : $"/tags/{Tag}";

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Tag = string.IsNullOrWhiteSpace(Tag) ? null : global::Newsletter.Web.Notes.Tags.Normalize(Tag);
        var size = Math.Clamp(site.Value.PageSize, 1, 100);
        var query = db.Notes.AsNoTracking().Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null);
        if (Tag is not null)
        {
            query = query.Where(n => n.Tags.Any(t => t.Tag == Tag));
        }

        Total = await query.CountAsync(ct);
        Pager = new Pager(PageNumber, size, Total, Tag is null ? "/notes" : $"/notes?tag={Tag}");
        if (!Pager.IsValid)
        {
            return NotFound();
        }

        Notes = await query.Include(n => n.Tags).OrderByDescending(n => n.Date).ThenByDescending(n => n.Id)
            .Skip((Pager.Page - 1) * size).Take(size).ToListAsync(ct);
        return Page();
    }
}
