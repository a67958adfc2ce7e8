using System.Data;
using Hangfire;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

/// <summary>
/// Who can write here, and what each may do. Owners invite, change roles, suspend and remove; there is always at
/// least one active owner, so nobody can lock the site out of its own settings.
/// </summary>
public sealed class UsersModel(AppDbContext db, UserManager<AppUser> users, IBackgroundJobClient jobs, AuditLog audit, TimeProvider clock) : PageModel
{
    public IReadOnlyList<AppUser> Authors { get; private set; } = [];

    public bool CanManage { get; private set; }

    public string? MyId { get; private set; }

    public string? Message { get; private set; }

    public static IReadOnlyList<AuthorRole> Roles { get; } = Enum.GetValues<AuthorRole>();

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    [Requires(AuthorPolicies.Owner)]
    public async Task<IActionResult> OnPostAsync(string name, string email, string? role, CancellationToken ct)
    {
        var me = await users.GetUserAsync(User);
        email = (email ?? "").Trim();
        // Least privilege when the form says nothing: a writer can't mail anyone.
        var chosen = Enum.TryParse<AuthorRole>(role, ignoreCase: true, out var r) && Enum.IsDefined(r) ? r : AuthorRole.Writer;
        if (string.IsNullOrWhiteSpace(name) || !new System.ComponentModel.DataAnnotations.EmailAddressAttribute().IsValid(email))
        {
            ModelState.AddModelError("", "Give a name and a valid email address.");
        }
        else if (await users.FindByEmailAsync(email) is not null)
        {
            ModelState.AddModelError("", "That address already has an account.");
        }
        else
        {
            var invited = new AppUser { UserName = email, Email = email, DisplayName = name.Trim(), Role = chosen };
            var result = await users.CreateAsync(invited);
            if (result.Succeeded)
            {
                jobs.Enqueue<AccountMailJob>(j => j.SendInvitationAsync(invited.Id, me!.Id, CancellationToken.None));
                await audit.RecordAsync(User, AuditActions.AuthorInvite, "author", invited.Id, $"{invited.DisplayName} <{email}> as {chosen}", ct);
                return await DoneAsync($"Invitation sent to {email}, as {Article(chosen)}.", ct);
            }

            foreach (var e in result.Errors)
            {
                ModelState.AddModelError("", e.Description);
            }
        }

        await LoadAsync(ct);
        return Page();
    }

    [Requires(AuthorPolicies.Owner)]
    public async Task<IActionResult> OnPostRoleAsync(string id, string? role, CancellationToken ct)
    {
        if (!Enum.TryParse<AuthorRole>(role, ignoreCase: true, out var chosen) || !Enum.IsDefined(chosen))
        {
            return await DoneAsync("Choose a role.", ct);
        }

        if (await FindAsync(id, ct) is not { } target)
        {
            return NotFound();
        }

        if (target.Role == chosen)
        {
            return await DoneAsync($"{target.DisplayName} is already {Article(chosen)}.", ct);
        }

        // Promoting needs no guard; demoting an owner must leave another active owner.
        var changed = chosen == AuthorRole.Owner
            ? await db.Users.Where(u => u.Id == id).ExecuteUpdateAsync(u => u.SetProperty(x => x.Role, chosen), ct) == 1
            : await UnlessLastOwnerAsync(id, q => q.ExecuteUpdateAsync(u => u.SetProperty(x => x.Role, chosen), ct), ct);
        if (!changed)
        {
            return await DoneAsync($"{target.DisplayName} is the last active owner: make someone else an owner first.", ct);
        }

        await audit.RecordAsync(User, AuditActions.AuthorRole, "author", id, $"{target.DisplayName}: {target.Role} → {chosen}", ct);
        // No sign-out: the role is read again on their next request, for every session they have.
        return await DoneAsync($"{target.DisplayName} is now {Article(chosen)}. It applies from their next click.", ct);
    }

    [Requires(AuthorPolicies.Owner)]
    public async Task<IActionResult> OnPostSuspendAsync(string id, CancellationToken ct)
    {
        if (await FindAsync(id, ct) is not { } target)
        {
            return NotFound();
        }

        if (target.Id == users.GetUserId(User))
        {
            return await DoneAsync("You can't suspend yourself; another owner can.", ct);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        if (!await UnlessLastOwnerAsync(id, q => q.Where(u => u.SuspendedAt == null).ExecuteUpdateAsync(u => u.SetProperty(x => x.SuspendedAt, now), ct), ct))
        {
            return await DoneAsync(target.SuspendedAt is null ? $"{target.DisplayName} is the last active owner and can't be suspended." : $"{target.DisplayName} is already suspended.", ct);
        }

        // A new stamp as well: should they be restored, today's cookies (perhaps the reason) stay dead.
        db.ChangeTracker.Clear();
        if (await users.FindByIdAsync(id) is { } fresh)
        {
            await users.UpdateSecurityStampAsync(fresh);
        }

        await audit.RecordAsync(User, AuditActions.AuthorSuspend, "author", id, target.DisplayName, ct);
        return await DoneAsync($"{target.DisplayName} is suspended: signed out everywhere, their API tokens refused. Restore them to let them back in.", ct);
    }

    [Requires(AuthorPolicies.Owner)]
    public async Task<IActionResult> OnPostRestoreAsync(string id, CancellationToken ct)
    {
        if (await FindAsync(id, ct) is not { } target)
        {
            return NotFound();
        }

        await db.Users.Where(u => u.Id == id).ExecuteUpdateAsync(u => u.SetProperty(x => x.SuspendedAt, (DateTime?)null), ct);
        await audit.RecordAsync(User, AuditActions.AuthorRestore, "author", id, target.DisplayName, ct);
        return await DoneAsync($"{target.DisplayName} can sign in again.", ct);
    }

    [Requires(AuthorPolicies.Owner)]
    public async Task<IActionResult> OnPostRemoveAsync(string id, CancellationToken ct)
    {
        if (await FindAsync(id, ct) is not { } target)
        {
            return NotFound();
        }

        if (target.Id == users.GetUserId(User))
        {
            return await DoneAsync("You can't remove yourself; another owner can.", ct);
        }

        if (!await UnlessLastOwnerAsync(id, q => q.ExecuteDeleteAsync(ct), ct))
        {
            return await DoneAsync($"{target.DisplayName} is the last active owner and can't be removed.", ct);
        }

        // Their tokens already fail (no author); marked revoked too, so the tokens page says so.
        var me = await users.GetUserAsync(User);
        await db.ApiTokens.Where(t => t.CreatedById == id && t.RevokedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(t => t.RevokedAt, clock.GetUtcNow().UtcDateTime).SetProperty(t => t.RevokedByName, me!.DisplayName + " (author removed)"), ct);
        await audit.RecordAsync(User, AuditActions.AuthorRemove, "author", id, $"{target.DisplayName} <{target.Email}>", ct);
        return await DoneAsync($"{target.DisplayName} is removed. What they wrote stays.", ct);
    }

    /// <summary>
    /// Runs <paramref name="change"/> on the author's row only if another active owner remains, in one serializable
    /// transaction: two owners demoting each other at once can't leave the site with none (one of them is refused).
    /// </summary>
    private async Task<bool> UnlessLastOwnerAsync(string id, Func<IQueryable<AppUser>, Task<int>> change, CancellationToken ct)
    {
        // The loser of such a race gets PostgreSQL's serialization failure as an error page: nothing changed, and
        // it says so, rather than a guess here about which error it was.
        await using var tx = await db.Database.BeginTransactionAsync(IsolationLevel.Serializable, ct);
        var target = db.Users.Where(u => u.Id == id
            && (u.Role != AuthorRole.Owner || u.SuspendedAt != null || db.Users.Any(o => o.Id != id && o.Role == AuthorRole.Owner && o.SuspendedAt == null)));
        var n = await change(target);
        await tx.CommitAsync(ct);
        return n == 1;
    }

    private Task<AppUser?> FindAsync(string id, CancellationToken ct) => db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, ct);

    private async Task<PageResult> DoneAsync(string message, CancellationToken ct)
    {
        Message = message;
        await LoadAsync(ct);
        return Page();
    }

    private static string Article(AuthorRole role) => (role is AuthorRole.Owner or AuthorRole.Editor ? "an " : "a ") + role.ToString().ToLowerInvariant();

    private async Task LoadAsync(CancellationToken ct)
    {
        Authors = [.. (await db.Users.AsNoTracking().ToListAsync(ct)).OrderBy(u => u.Role).ThenBy(u => u.CreatedAt)];
        CanManage = User.May(AuthorPolicies.Owner);
        MyId = users.GetUserId(User);
    }
}
