using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Archive;

public sealed record ArchiveEntry(int? Number, string Subject, string Summary, DateTime Date, string Url, bool WebOnly, bool EmailOnly = false);

public sealed record ArchiveYear(int Year, IReadOnlyList<ArchiveEntry> Issues);

/// <summary>
/// Every sent issue, newest first, grouped by year (in the author's time zone) and paged. An email-only
/// issue has no web version, so it is listed by number, date and subject, marked, and not linked: the
/// archive still shows the whole run of the newsletter. Its summary and body stay in the inbox.
/// </summary>
public sealed class IndexModel(AppDbContext db, IOptions<ArchiveOptions> options, IOptions<SiteOptions> site) : PageModel
{
    // "page" is a route value Razor Pages reserves for the page's own name, so the query is read by hand.
    public int PageNumber => Newsletter.Web.Archive.PublicContent.PageOf(Request.Query["page"]);

    public IReadOnlyList<ArchiveYear> Years { get; private set; } = [];

    public int Total { get; private set; }

    public Pager Pager { get; private set; } = Pager.Empty;

    public string CanonicalPath => PageNumber > 1 ? $"/archive?page={PageNumber}" : "/archive";

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        var size = Math.Clamp(options.Value.PageSize, 1, 200);
        var query = Issues.PublicIssues.Archived(db).AsNoTracking();
        Total = await query.CountAsync(ct);
        Pager = new Pager(PageNumber, size, Total, "/archive");
        if (!Pager.IsValid)
        {
            return NotFound();
        }

        var skip = (Pager.Page - 1) * size;
        // The sending engine gives an email-only issue no publication date; it went out when sending started.
        var rows = await query.Select(i => new { i.Id, i.Number, i.Subject, i.Summary, Date = i.EmailOnly ? i.StartedAt : i.PublishedAt, i.Slug, i.WebOnly, i.EmailOnly })
            .OrderByDescending(i => i.Date).ThenByDescending(i => i.Id)
            .Skip(skip).Take(size)
            .ToListAsync(ct);
        var s = site.Value;
        Years = [.. rows
            .Select(r => new ArchiveEntry(r.Number, r.Subject, r.EmailOnly ? "" : r.Summary, s.ToLocal(r.Date!.Value), r.EmailOnly ? "" : $"/issues/{r.Slug}", r.WebOnly, r.EmailOnly))
            .GroupBy(e => e.Date.Year)
            .Select(g => new ArchiveYear(g.Key, [.. g]))];
        return Page();
    }
}
