using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

[AllowAnonymous]
public sealed class LoginModel(AppDbContext db, SignInManager<AppUser> signIn, ILogger<LoginModel> logger) : PageModel
{
    [BindProperty]
    public LoginInput Input { get; set; } = new();

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    // Notices from the query string are for display only; binding them would let a bad value block sign-in.
    public bool SignedOut => Request.Query.ContainsKey("signedOut");

    public bool PasswordWasReset => Request.Query.ContainsKey("reset");

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        // A fresh install has nobody to sign in: send the visitor to setup instead.
        return await db.Users.AnyAsync(ct) ? Page() : Redirect("/admin/setup");
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (!ModelState.IsValid)
        {
            return Page();
        }

        var result = await signIn.PasswordSignInAsync(Input.Email.Trim(), Input.Password, Input.RememberMe, lockoutOnFailure: true);
        var next = Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/admin";
        if (result.Succeeded)
        {
            return LocalRedirect(next);
        }

        if (result.RequiresTwoFactor)
        {
            return RedirectToPage("/Admin/LoginTwoFactor", new { returnUrl = next, rememberMe = Input.RememberMe });
        }

        if (result.IsLockedOut)
        {
            logger.LogWarning("Sign-in locked out for {Email}", Input.Email);
            ModelState.AddModelError("", "Too many failed attempts. This account is locked for 15 minutes.");
            return Page();
        }

        ModelState.AddModelError("", "That email and password don't match an account.");
        return Page();
    }
}

public sealed class LoginInput
{
    [Required, EmailAddress]
    public string Email { get; set; } = "";

    [Required]
    public string Password { get; set; } = "";

    public bool RememberMe { get; set; }
}
