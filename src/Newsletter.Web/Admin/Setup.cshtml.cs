using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

/// <summary>
/// First-run setup: exists only until the first account does, then answers 404. Several nodes may show the
/// form at once; the database's one-owner index decides who wins, and the others are told to sign in.
/// </summary>
[AllowAnonymous]
public sealed class SetupModel(AppDbContext db, UserManager<AppUser> users, SignInManager<AppUser> signIn) : PageModel
{
    [BindProperty]
    public SetupInput Input { get; set; } = new();

    /// <summary>Someone else completed setup while this form was open.</summary>
    public bool AlreadyCompleted { get; private set; }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct) =>
        await db.Users.AnyAsync(ct) ? NotFound() : Page();

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (await db.Users.AnyAsync(ct))
        {
            return Completed();
        }

        if (!ModelState.IsValid)
        {
            return Page();
        }

        var user = new AppUser { UserName = Input.Email.Trim(), Email = Input.Email.Trim(), DisplayName = Input.DisplayName.Trim(), IsFounder = true, Role = AuthorRole.Owner, EmailConfirmed = true };
        IdentityResult result;
        try
        {
            result = await users.CreateAsync(user, Input.Password);
        }
        catch (DbUpdateException)
        {
            // Another post (on this node or another) found no account either and inserted its owner first;
            // anything else is a real failure and stays one.
            db.ChangeTracker.Clear();
            if (!await db.Users.AnyAsync(u => u.IsFounder, ct))
            {
                throw;
            }

            return Completed();
        }

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

    private PageResult Completed()
    {
        AlreadyCompleted = true;
        Response.StatusCode = StatusCodes.Status409Conflict;
        return Page();
    }
}

public sealed class SetupInput
{
    [Required(ErrorMessage = "Enter your name, as readers will see it."), StringLength(100, ErrorMessage = "Your name can be at most 100 characters.")]
    public string DisplayName { get; set; } = "";

    [Required(ErrorMessage = "Enter your email address."), EmailAddress(ErrorMessage = "Enter an email address like name@example.org."), StringLength(254, ErrorMessage = "An email address can be at most 254 characters.")]
    public string Email { get; set; } = "";

    [Required(ErrorMessage = "Choose a password."), StringLength(200, MinimumLength = 12, ErrorMessage = "Choose a password of 12 to 200 characters; a few words together work well.")]
    public string Password { get; set; } = "";
}
