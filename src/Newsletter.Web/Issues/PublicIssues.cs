using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Issues;

/// <summary>Queries of sent issues for public pages.</summary>
public static class PublicIssues
{
    public static Task<IReadOnlyList<IssueLink>> LatestAsync(AppDbContext db, int count, CancellationToken ct)
    {
        _ = db;
        _ = count;
        _ = ct;
        return Task.FromResult<IReadOnlyList<IssueLink>>([]);
    }
}
