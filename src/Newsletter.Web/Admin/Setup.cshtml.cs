using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

/// <summary>First-run setup: exists only until the first account does, then answers 404.</summary>
[AllowAnonymous]
public sealed class SetupModel(AppDbContext db, UserManager<AppUser> users, SignInManager<AppUser> signIn) : PageModel
{
    // Two setup posts racing in one process must not both create an owner.
    private static readonly SemaphoreSlim Gate = new(1, 1);

    [BindProperty]
    public SetupInput Input { get; set; } = new();

    public async Task<IActionResult> OnGetAsync(CancellationToken ct) =>
        await db.Users.AnyAsync(ct) ? NotFound() : Page();

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        await Gate.WaitAsync(ct);
        try
        {
            if (await db.Users.AnyAsync(ct))
            {
                return NotFound();
            }

            if (!ModelState.IsValid)
            {
                return Page();
            }

            var user = new AppUser { UserName = Input.Email.Trim(), Email = Input.Email.Trim(), DisplayName = Input.DisplayName.Trim(), IsOwner = true, EmailConfirmed = true };
            var result = await users.CreateAsync(user, Input.Password);
            if (!result.Succeeded)
            {
                foreach (var error in result.Errors)
                {
                    ModelState.AddModelError("", error.Description);
                }

                return Page();
            }

            await signIn.SignInAsync(user, isPersistent: false);
            return Redirect("/admin?welcome=1");
        }
        finally
        {
            Gate.Release();
        }
    }
}

public sealed class SetupInput
{
    [Required, StringLength(100)]
    public string DisplayName { get; set; } = "";

    [Required, EmailAddress, StringLength(254)]
    public string Email { get; set; } = "";

    [Required, StringLength(200, MinimumLength = 12)]
    public string Password { get; set; } = "";
}
