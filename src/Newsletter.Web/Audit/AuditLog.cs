using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Api;
using Newsletter.Web.Data;

namespace Newsletter.Web.Audit;

/// <summary>Writes audit rows for the signed-in author or the API token's author, and reads who sent an issue.</summary>
public sealed class AuditLog(AppDbContext db, TimeProvider clock)
{
    public async Task RecordAsync(ClaimsPrincipal user, string action, string objectType, string? objectId, string detail, CancellationToken ct)
    {
        var (actorId, actorName) = await ActorAsync(user, ct);
        await AddAsync(actorId, actorName, action, objectType, objectId, detail, ct);
    }

    /// <summary>Records what a reader did to their own record through an emailed link (no author acted).</summary>
    public Task RecordByReaderAsync(string action, string objectType, string? objectId, string detail, CancellationToken ct) =>
        AddAsync("", "the reader, through a link emailed to them", action, objectType, objectId, detail, ct);

    /// <summary>Records what the app did by itself on an author's standing order (a digest that sends itself), naming the order.</summary>
    public Task RecordByAppAsync(string actorName, string action, string objectType, string? objectId, string detail, CancellationToken ct) =>
        AddAsync("", actorName, action, objectType, objectId, detail, ct);

    private async Task AddAsync(string actorId, string actorName, string action, string objectType, string? objectId, string detail, CancellationToken ct)
    {
        db.AuditEntries.Add(new AuditEntry
        {
            At = clock.GetUtcNow().UtcDateTime,
            ActorId = actorId,
            ActorName = Clip(actorName, 400),
            Action = action,
            ObjectType = objectType,
            ObjectId = objectId,
            Detail = Clip(detail, 1000),
        });
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Records an action on an issue, naming it by its subject as it is now.</summary>
    public async Task IssueAsync(ClaimsPrincipal user, string action, int issueId, string detail, CancellationToken ct)
    {
        var subject = await db.Issues.AsNoTracking().Where(i => i.Id == issueId).Select(i => i.Subject).FirstOrDefaultAsync(ct);
        await RecordAsync(user, action, "issue", issueId.ToString(System.Globalization.CultureInfo.InvariantCulture), $"“{subject}” {detail}".Trim(), ct);
    }

    /// <summary>The latest send or schedule of an issue: who set it going, and when.</summary>
    public Task<AuditEntry?> SentByAsync(int issueId, CancellationToken ct)
    {
        var id = issueId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return db.AuditEntries.AsNoTracking()
            .Where(e => e.ObjectType == "issue" && e.ObjectId == id && (e.Action == AuditActions.IssueSend || e.Action == AuditActions.IssueSchedule))
            .OrderByDescending(e => e.Id).FirstOrDefaultAsync(ct);
    }

    /// <summary>The author acting: a token's author, or the signed-in author; "" for nobody.</summary>
    public static string ActorId(ClaimsPrincipal user) =>
        user.FindFirst(ApiTokenAuthentication.AuthorClaim)?.Value ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? "";

    private async Task<(string Id, string Name)> ActorAsync(ClaimsPrincipal user, CancellationToken ct)
    {
        var tokenAuthor = user.FindFirst(ApiTokenAuthentication.AuthorClaim)?.Value;
        var id = ActorId(user);
        var author = await db.Users.AsNoTracking().Where(u => u.Id == id).Select(u => new { u.DisplayName, u.Email }).FirstOrDefaultAsync(ct);
        var name = author is null ? "unknown" : string.IsNullOrEmpty(author.DisplayName) ? author.Email ?? id : author.DisplayName;
        return tokenAuthor is null ? (id, name) : (id, $"{name} via API token “{user.Identity?.Name}”");
    }

    private static string Clip(string s, int max) => s.Length <= max ? s : s[..max];
}
