using System.ComponentModel.DataAnnotations;
using Hangfire;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Admin;

/// <summary>The answer is the same whether or not the address has an account, so nobody can probe for authors.</summary>
[AllowAnonymous]
public sealed class ForgotPasswordModel(UserManager<AppUser> users, IBackgroundJobClient jobs, SharedRateLimiter limiter) : PageModel
{
    // An author needs one reset link, two if the first is slow to arrive; more in an hour is someone filling
    // their inbox. Counted in the database, so the limit holds for all nodes together.
    private static readonly RateLimit PerAddress = new("password-reset-address", Permits: 3, Window: TimeSpan.FromHours(1));

    [BindProperty, Required, EmailAddress, StringLength(254)]
    public string Email { get; set; } = "";

    public bool Sent { get; private set; }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!ModelState.IsValid)
        {
            return Page();
        }

        var email = Email.Trim();
        // Counted for unknown addresses too, and answered alike when used up: the limit reveals nothing either.
        if (await limiter.TryAcquireAsync(PerAddress, email.ToUpperInvariant(), ct) && await users.FindByEmailAsync(email) is { } user)
        {
            // The job makes the token itself: the job store never holds a secret.
            jobs.Enqueue<AccountMailJob>(j => j.SendPasswordResetAsync(user.Id, CancellationToken.None));
        }

        Sent = true;
        return Page();
    }
}
