using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;

namespace Newsletter.Web.Api.Admin;

/// <summary>Authors make and revoke API tokens here. A new token's secret is shown in the answer to the POST that made it, and never again.</summary>
public sealed class TokensModel(AppDbContext db, ApiTokens tokens, UserManager<AppUser> users, TimeProvider clock, Audit.AuditLog audit) : PageModel
{
    public static readonly IReadOnlyList<(ApiScopes Scope, string Meaning)> Offered =
    [
        (ApiScopes.Read, "read subscribers, notes, issues, imports, suppressions and the reader history"),
        (ApiScopes.Write, "add and change subscribers, notes and issue drafts; import; suppress"),
        (ApiScopes.Send, "send test copies, schedule, send, pause, resume and cancel issues"),
        (ApiScopes.Metrics, "scrape /metrics (for Prometheus), nothing else"),
    ];

    public IReadOnlyList<ApiToken> Tokens { get; private set; } = [];

    /// <summary>Set only in the answer to the POST that made the token.</summary>
    public NewApiToken? Created { get; private set; }

    public string? Message { get; private set; }

    public DateTime Now => clock.GetUtcNow().UtcDateTime;

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    /// <summary>The scopes this author's role lets a token keep; the form offers only these.</summary>
    public ApiScopes Allowed => Enum.TryParse<AuthorRole>(User.FindFirst(AuthorPolicies.RoleClaim)?.Value, out var role) ? role.Scopes() : ApiScopes.None;

    // Any author may make tokens for what their own role allows; the token keeps following the role.
    [Requires(AuthorPolicies.Read)]
    public async Task<IActionResult> OnPostCreateAsync(string? name, string[]? scopes, int? days, CancellationToken ct)
    {
        name = (name ?? "").Trim();
        if (name.Length is 0 or > 100 || name.Any(Infrastructure.OneLine.IsBreak))
        {
            ModelState.AddModelError("name", "Give the token a name of at most 100 characters, on one line, that says where it is used.");
        }

        var chosen = (scopes ?? []).Select(s => Enum.TryParse<ApiScopes>(s, ignoreCase: true, out var v) && Offered.Any(o => o.Scope == v) ? v : ApiScopes.None)
            .Aggregate(ApiScopes.None, (all, s) => all | s);
        if (chosen == ApiScopes.None)
        {
            ModelState.AddModelError("scopes", "Choose at least one scope.");
        }
        else if ((chosen & ~Allowed) != ApiScopes.None)
        {
            ModelState.AddModelError("scopes", $"Your role can't give a token “{string.Join("”, “", ApiTokenAuthentication.ScopeNames(chosen & ~Allowed))}”.");
        }

        if (days is not (null or 30 or 90 or 365))
        {
            ModelState.AddModelError("days", "Choose when the token expires.");
        }

        if (!ModelState.IsValid)
        {
            await LoadAsync(ct);
            return Page();
        }

        var me = await users.GetUserAsync(User);
        if (me is null)
        {
            return Challenge();
        }

        Created = await tokens.CreateAsync(name, chosen, days is { } d ? Now.AddDays(d) : null, me.Id, string.IsNullOrEmpty(me.DisplayName) ? me.Email ?? me.Id : me.DisplayName, ct);
        // A token with "send" mails every reader: who made it, and who revoked it, is the audit log's business.
        await audit.RecordAsync(User, Audit.AuditActions.TokenCreate, "token", Created.Token.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"“{name}”: {string.Join(", ", ApiTokenAuthentication.ScopeNames(chosen))}{(days is { } valid ? $", {valid} days" : ", no expiry")}", ct);
        await LoadAsync(ct);
        return Page();
    }

    [Requires(AuthorPolicies.Read)]
    public async Task<IActionResult> OnPostRevokeAsync(int id, CancellationToken ct)
    {
        var me = await users.GetUserAsync(User);
        // Anyone revokes their own; only an owner revokes another author's.
        if (!User.May(AuthorPolicies.Owner) && !await db.ApiTokens.AnyAsync(t => t.Id == id && t.CreatedById == me!.Id, ct))
        {
            return StatusCode(StatusCodes.Status403Forbidden);
        }

        var revoked = await tokens.RevokeAsync(id, me?.DisplayName ?? User.Identity?.Name ?? "an author", ct);
        if (revoked)
        {
            var named = await db.ApiTokens.AsNoTracking().Where(t => t.Id == id).Select(t => t.Name).FirstOrDefaultAsync(ct);
            await audit.RecordAsync(User, Audit.AuditActions.TokenRevoke, "token", id.ToString(System.Globalization.CultureInfo.InvariantCulture), $"“{named}”", ct);
        }

        Message = revoked
            ? "Revoked. Requests with that token are refused from now on, on every node."
            : "That token was already revoked.";
        await LoadAsync(ct);
        return Page();
    }

    private async Task LoadAsync(CancellationToken ct) =>
        Tokens = await db.ApiTokens.AsNoTracking().OrderBy(t => t.RevokedAt != null).ThenByDescending(t => t.Id).Take(200).ToListAsync(ct);
}
