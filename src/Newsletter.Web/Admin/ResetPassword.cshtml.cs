using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

/// <summary>Sets a password from an emailed token: a password reset, or an invited co-author's first password.</summary>
[AllowAnonymous]
public sealed class ResetPasswordModel(UserManager<AppUser> users) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "user")]
    public string UserId { get; set; } = "";

    [BindProperty(SupportsGet = true, Name = "token")]
    public string Token { get; set; } = "";

    [BindProperty(SupportsGet = true, Name = "invite")]
    public bool IsInvitation { get; set; }

    [BindProperty, Required, StringLength(200, MinimumLength = 12)]
    public string Password { get; set; } = "";

    public IActionResult OnGet() => string.IsNullOrEmpty(UserId) || string.IsNullOrEmpty(Token) ? BadRequest() : Page();

    public async Task<IActionResult> OnPostAsync()
    {
        if (!ModelState.IsValid)
        {
            return Page();
        }

        var user = await users.FindByIdAsync(UserId);
        if (user is null)
        {
            ModelState.AddModelError("", "This link is not valid or has expired. Ask for a new one.");
            return Page();
        }

        var result = await users.ResetPasswordAsync(user, Token, Password);
        if (!result.Succeeded)
        {
            foreach (var e in result.Errors)
            {
                ModelState.AddModelError("", e.Code == "InvalidToken" ? "This link is not valid or has expired. Ask for a new one." : e.Description);
            }

            return Page();
        }

        if (!user.EmailConfirmed)
        {
            user.EmailConfirmed = true;
            await users.UpdateAsync(user);
        }

        await users.ResetAccessFailedCountAsync(user);
        // A reset is the way back in: it also lifts a lockout left by failed second-factor codes.
        await users.SetLockoutEndDateAsync(user, null);
        return Redirect("/admin/login?reset=true");
    }
}
