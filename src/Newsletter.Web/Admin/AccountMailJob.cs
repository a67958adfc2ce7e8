using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Mail;
using Newsletter.Web.Site;

namespace Newsletter.Web.Admin;

/// <summary>
/// Emails about author accounts. Runs as a Hangfire job: the request only enqueues the user's id, and the
/// token is made here, so no secret sits in the job store and no SMTP wait sits in a request.
/// </summary>
public sealed class AccountMailJob(UserManager<AppUser> users, TransactionalMail mail, IOptions<SiteOptions> site)
{
    public async Task SendPasswordResetAsync(string userId, CancellationToken ct)
    {
        var user = await users.FindByIdAsync(userId);
        if (user?.Email is null)
        {
            return; // the account was deleted after the request: nothing to send
        }

        var token = await users.GeneratePasswordResetTokenAsync(user);
        var link = site.Value.Absolute($"/admin/reset-password?user={Uri.EscapeDataString(user.Id)}&token={UrlEncoder.Default.Encode(token)}");
        await mail.SendToAuthorAsync("password-reset", user.Email, user.DisplayName, new Dictionary<string, object?>
        {
            ["name"] = user.DisplayName,
            ["reset_url"] = link,
            ["expires_hours"] = 24,
        }, ct);
    }

    public async Task SendInvitationAsync(string userId, string invitedById, CancellationToken ct)
    {
        var user = await users.FindByIdAsync(userId);
        var inviter = await users.FindByIdAsync(invitedById);
        if (user?.Email is null || user.EmailConfirmed)
        {
            return; // deleted, or already accepted: a retried job must not send a second invitation link
        }

        var token = await users.GeneratePasswordResetTokenAsync(user);
        var link = site.Value.Absolute($"/admin/reset-password?invite=true&user={Uri.EscapeDataString(user.Id)}&token={UrlEncoder.Default.Encode(token)}");
        await mail.SendToAuthorAsync("invitation", user.Email, user.DisplayName, new Dictionary<string, object?>
        {
            ["name"] = user.DisplayName,
            ["inviter"] = inviter?.DisplayName ?? "The owner",
            ["accept_url"] = link,
            ["expires_hours"] = 24,
        }, ct);
    }
}
