using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Audit.Admin;

/// <summary>Who sent, scheduled, exported, erased and changed authors: owners only, newest first.</summary>
[Authorize(Policy = AuthorPolicies.Owner)]
public sealed class IndexModel(AppDbContext db, IOptions<SiteOptions> site) : PageModel
{
    public const int PageSize = 100;

    public IReadOnlyList<AuditEntry> Entries { get; private set; } = [];

    /// <summary>The id to pass as "before" for the next (older) page; null on the last page.</summary>
    public long? Older { get; private set; }

    [BindProperty(SupportsGet = true, Name = "action")]
    public string? Filter { get; set; }

    public IReadOnlyList<string> Actions { get; private set; } = [];

    public string Local(DateTime utc) => site.Value.ToLocal(utc).ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture);

    public string TimeZone => site.Value.TimeZone;

    public async Task OnGetAsync(long? before, CancellationToken ct)
    {
        var query = db.AuditEntries.AsNoTracking();
        if (!string.IsNullOrEmpty(Filter))
        {
            query = query.Where(e => e.Action == Filter);
        }

        if (before is { } b)
        {
            query = query.Where(e => e.Id < b);
        }

        var page = await query.OrderByDescending(e => e.Id).Take(PageSize + 1).ToListAsync(ct);
        Older = page.Count > PageSize ? page[PageSize - 1].Id : null;
        Entries = page.Take(PageSize).ToList();
        Actions = typeof(AuditActions).GetFields().Select(f => (string)f.GetValue(null)!).Order(StringComparer.Ordinal).ToList();
    }
}
