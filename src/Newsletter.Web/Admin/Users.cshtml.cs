using Hangfire;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

public sealed class UsersModel(AppDbContext db, UserManager<AppUser> users, IBackgroundJobClient jobs) : PageModel
{
    public IReadOnlyList<AppUser> Authors { get; private set; } = [];

    public bool CanInvite { get; private set; }

    public string? Message { get; private set; }

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    public async Task<IActionResult> OnPostAsync(string name, string email, CancellationToken ct)
    {
        var me = await users.GetUserAsync(User);
        if (me is not { IsOwner: true })
        {
            // A plain 403 with the friendly error page: Forbid() would bounce a signed-in co-author to the login form.
            return StatusCode(StatusCodes.Status403Forbidden);
        }

        email = (email ?? "").Trim();
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
            var invited = new AppUser { UserName = email, Email = email, DisplayName = name.Trim() };
            var result = await users.CreateAsync(invited);
            if (result.Succeeded)
            {
                jobs.Enqueue<AccountMailJob>(j => j.SendInvitationAsync(invited.Id, me.Id, CancellationToken.None));
                Message = $"Invitation sent to {email}.";
            }
            else
            {
                foreach (var e in result.Errors)
                {
                    ModelState.AddModelError("", e.Description);
                }
            }
        }

        await LoadAsync(ct);
        return Page();
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        Authors = await db.Users.AsNoTracking().OrderByDescending(u => u.IsOwner).ThenBy(u => u.CreatedAt).ToListAsync(ct);
        CanInvite = (await users.GetUserAsync(User))?.IsOwner == true;
    }
}
