using System.ComponentModel.DataAnnotations;
using Hangfire;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

/// <summary>The answer is the same whether or not the address has an account, so nobody can probe for authors.</summary>
[AllowAnonymous]
public sealed class ForgotPasswordModel(UserManager<AppUser> users, IBackgroundJobClient jobs) : PageModel
{
    [BindProperty, Required, EmailAddress, StringLength(254)]
    public string Email { get; set; } = "";

    public bool Sent { get; private set; }

    public async Task<IActionResult> OnPostAsync()
    {
        if (!ModelState.IsValid)
        {
            return Page();
        }

        if (await users.FindByEmailAsync(Email.Trim()) is { } user)
        {
            // The job makes the token itself: the job store never holds a secret.
            jobs.Enqueue<AccountMailJob>(j => j.SendPasswordResetAsync(user.Id, CancellationToken.None));
        }

        Sent = true;
        return Page();
    }
}
