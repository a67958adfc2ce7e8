using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Issues;

/// <summary>Queries of issues that readers may see on the site.</summary>
public static class PublicIssues
{
    /// <summary>
    /// Issues that went out (or are going out, or were cancelled part way) and were not deleted: the one status
    /// rule the site knows. A cancelled issue that reached nobody, or that the author took off the site, has no
    /// PublishedAt (IssueSender.CancelAsync), so it shows nowhere.
    /// </summary>
    private static IQueryable<Issue> WentOut(AppDbContext db) =>
        db.Issues.Where(i => i.DeletedAt == null && (i.Status == IssueStatus.Sending || i.Status == IssueStatus.Sent || i.Status == IssueStatus.Paused || i.Status == IssueStatus.Cancelled));

    /// <summary>Issues with a web page: in feeds, search, the sitemap and at their address.</summary>
    public static IQueryable<Issue> Visible(AppDbContext db) => WentOut(db).Where(i => i.PublishedAt != null && !i.EmailOnly);

    /// <summary>What /archive lists: the visible issues and the email-only ones, once their sending started.</summary>
    public static IQueryable<Issue> Archived(AppDbContext db) =>
        WentOut(db).Where(i => i.EmailOnly ? i.StartedAt != null && i.Status != IssueStatus.Cancelled : i.PublishedAt != null);

    public static async Task<IReadOnlyList<IssueLink>> LatestAsync(AppDbContext db, SiteOptions site, int count, CancellationToken ct)
    {
        var rows = await Visible(db).AsNoTracking().OrderByDescending(i => i.PublishedAt).ThenByDescending(i => i.Id).Take(count)
            .Select(i => new { i.Number, i.Subject, i.PublishedAt, i.Slug }).ToListAsync(ct);
        return [.. rows.Select(r => new IssueLink(r.Number ?? 0, r.Subject, site.ToLocal(r.PublishedAt!.Value), $"/issues/{r.Slug}"))];
    }
}
