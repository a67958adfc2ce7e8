using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Issues.Admin;

public sealed class IndexModel(AppDbContext db, IssueEditor editor, IOptions<SiteOptions> site) : PageModel
{
    public IReadOnlyList<Issue> Issues { get; private set; } = [];

    public IReadOnlyList<Issue> Paused { get; private set; } = [];

    [TempData(Key = Newsletter.Web.Admin.AdminFlash.Key)]
    public string? Message { get; set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        Issues = await db.Issues.AsNoTracking().Where(i => i.DeletedAt == null).OrderByDescending(i => i.Id).Take(200).ToListAsync(ct);
        Paused = [.. Issues.Where(i => i.Status == IssueStatus.Paused)];
    }

    public async Task<IActionResult> OnPostNewAsync(CancellationToken ct)
    {
        var issue = await editor.CreateAsync(ct);
        return Redirect($"/admin/issues/{issue.Id}");
    }

    public string When(Issue i)
    {
        var s = site.Value;
        DateTime? at = i.Status switch
        {
            IssueStatus.Scheduled => i.ScheduledAt,
            IssueStatus.Sent or IssueStatus.Cancelled => i.CompletedAt,
            IssueStatus.Draft => i.UpdatedAt,
            _ => i.StartedAt,
        };
        return at is { } utc ? s.ToLocal(utc).ToString("yyyy-MM-dd HH:mm") + " " + s.TimeZone : "";
    }
}
