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
public sealed class ForgotPasswordModel(UserManager<AppUser> users, IBackgroundJobClient jobs, MailRequestLimits limits) : PageModel
{
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
        var permit = await limits.TryAcquireAsync(MailRequest.PasswordReset, HttpContext.Connection.RemoteIpAddress, email, ct);
        if (permit == MailPermit.ClientLimited)
        {
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            ModelState.AddModelError("", "Too many requests from your network. Try again in a minute.");
            return Page();
        }

        // An address used up is answered as if the mail went: the limit reveals nothing either.
        if (permit == MailPermit.Granted && await users.FindByEmailAsync(email) is { } user)
        {
            // The job makes the token itself: the job store never holds a secret.
            jobs.Enqueue<AccountMailJob>(j => j.SendPasswordResetAsync(user.Id, CancellationToken.None));
        }

        Sent = true;
        return Page();
    }
}
