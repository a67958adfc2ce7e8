using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Archive;

public sealed record ArchiveEntry(int? Number, string Subject, string Summary, DateTime Date, string Url, bool WebOnly);

public sealed record ArchiveYear(int Year, IReadOnlyList<ArchiveEntry> Issues);

/// <summary>Every public issue, newest first, grouped by year (in the author's time zone) and paged.</summary>
public sealed class IndexModel(AppDbContext db, IOptions<ArchiveOptions> options, IOptions<SiteOptions> site) : PageModel
{
    // "page" is a route value Razor Pages reserves for the page's own name, so the query is read by hand.
    public int PageNumber => int.TryParse(Request.Query["page"], out var p) ? p : 1;

    public IReadOnlyList<ArchiveYear> Years { get; private set; } = [];

    public int Total { get; private set; }

    public Pager Pager { get; private set; } = Pager.Empty;

    public string CanonicalPath => PageNumber > 1 ? $"/archive?page={PageNumber}" : "/archive";

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        var size = Math.Clamp(options.Value.PageSize, 1, 200);
        var query = PublicContent.Issues(db).AsNoTracking();
        Total = await query.CountAsync(ct);
        Pager = new Pager(PageNumber, size, Total, "/archive");
        if (!Pager.IsValid)
        {
            return NotFound();
        }

        var rows = await query.OrderByDescending(i => i.PublishedAt).ThenByDescending(i => i.Id)
            .Skip((Pager.Page - 1) * size).Take(size)
            .Select(i => new { i.Number, i.Subject, i.Summary, i.PublishedAt, i.Slug, i.WebOnly })
            .ToListAsync(ct);
        var s = site.Value;
        Years = [.. rows
            .Select(r => new ArchiveEntry(r.Number, r.Subject, r.Summary, s.ToLocal(r.PublishedAt!.Value), $"/issues/{r.Slug}", r.WebOnly))
            .GroupBy(e => e.Date.Year)
            .Select(g => new ArchiveYear(g.Key, [.. g]))];
        return Page();
    }
}
