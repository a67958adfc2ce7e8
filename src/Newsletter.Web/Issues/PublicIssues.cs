using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Issues;

/// <summary>Queries of issues that readers may see on the site.</summary>
public static class PublicIssues
{
    public static IQueryable<Issue> Visible(AppDbContext db) =>
        db.Issues.Where(i => i.PublishedAt != null && !i.EmailOnly && i.DeletedAt == null
            && (i.Status == IssueStatus.Sending || i.Status == IssueStatus.Sent || i.Status == IssueStatus.Paused));

    public static async Task<IReadOnlyList<IssueLink>> LatestAsync(AppDbContext db, int count, CancellationToken ct)
    {
        var rows = await Visible(db).AsNoTracking().OrderByDescending(i => i.PublishedAt).ThenByDescending(i => i.Id).Take(count)
            .Select(i => new { i.Number, i.Subject, i.PublishedAt, i.Slug }).ToListAsync(ct);
        return [.. rows.Select(r => new IssueLink(r.Number ?? 0, r.Subject, r.PublishedAt!.Value, $"/issues/{r.Slug}"))];
    }
}
