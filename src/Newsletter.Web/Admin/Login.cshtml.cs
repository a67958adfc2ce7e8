using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Admin;

/// <summary>
/// Sign-in that tells nobody which accounts exist: an unknown address costs the same password hash and gets
/// the same answer as a wrong password. Guessing is limited per client address, and failures per (account,
/// client address) rather than per account, so an attacker who fails on purpose locks only themselves out:
/// the owner still signs in from anywhere else, and a password reset always works.
/// </summary>
[AllowAnonymous]
public sealed class LoginModel(AppDbContext db, SignInManager<AppUser> signIn, IPasswordHasher<AppUser> hasher, SharedRateLimiter limiter, ILogger<LoginModel> logger) : PageModel
{
    // Counted in the database, so they hold for all nodes together.
    private static readonly RateLimit PerClient = new("login-client", Permits: 10, Window: TimeSpan.FromMinutes(1));
    private static readonly RateLimit FailuresPerAccountAndClient = new("login-failures", Permits: 5, Window: TimeSpan.FromMinutes(15));

    private const string Refused = "That email and password don't match an account.";

    // A hash made with the app's own hasher settings, checked for unknown addresses so they take as long as known ones.
    private static string? _dummyHash;

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

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!ModelState.IsValid)
        {
            return Page();
        }

        var client = ClientKey();
        if (!await limiter.TryAcquireAsync(PerClient, client, ct))
        {
            return StatusCode(StatusCodes.Status429TooManyRequests);
        }

        var email = Input.Email.Trim();
        var pair = email.ToUpperInvariant() + "\n" + client;
        var user = await signIn.UserManager.FindByNameAsync(email);
        if (user is null || await limiter.IsUsedUpAsync(FailuresPerAccountAndClient, pair, ct))
        {
            // The same work and the same words as a wrong password: neither existence nor a lock shows.
            var dummy = new AppUser();
            hasher.VerifyHashedPassword(dummy, _dummyHash ??= hasher.HashPassword(dummy, Guid.NewGuid().ToString()), Input.Password);
            return await RefuseAsync(pair, ct);
        }

        // No account-wide lockout here: that would let anyone keep the owner out by failing on purpose.
        var result = await signIn.PasswordSignInAsync(user, Input.Password, Input.RememberMe, lockoutOnFailure: false);
        var next = Url.IsLocalUrl(ReturnUrl) ? PageToReturnTo(ReturnUrl!) : "/admin";
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
            logger.LogWarning("Sign-in refused: account {UserId} is locked after failed second-factor codes", user.Id);
        }

        return await RefuseAsync(pair, ct);
    }

    private async Task<IActionResult> RefuseAsync(string pair, CancellationToken ct)
    {
        await limiter.TryAcquireAsync(FailuresPerAccountAndClient, pair, ct);
        ModelState.AddModelError("", Refused);
        return Page();
    }

    private string ClientKey() => Subscribers.SubscribersExtensions.ClientKey(HttpContext.Connection.RemoteIpAddress);

    /// <summary>
    /// Where to go after signing in. A form posted after the session ended (Save in the editor) arrives here
    /// with its page handler in the return address; coming back to it by GET would run no handler and show a
    /// broken page, so the handler is dropped and the author lands on the page itself, where the editor puts
    /// back the text it kept in the browser.
    /// </summary>
    public static string PageToReturnTo(string returnUrl)
    {
        var q = returnUrl.IndexOf('?', StringComparison.Ordinal);
        if (q < 0)
        {
            return returnUrl;
        }

        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(returnUrl[q..]);
        var kept = query.Where(p => !string.Equals(p.Key, "handler", StringComparison.OrdinalIgnoreCase))
            .SelectMany(p => p.Value.Select(v => new KeyValuePair<string, string?>(p.Key, v)));
        return Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(returnUrl[..q], kept);
    }
}

public sealed class LoginInput
{
    [Required(ErrorMessage = "Enter the email address you signed up with."), EmailAddress(ErrorMessage = "Enter an email address like name@example.org.")]
    public string Email { get; set; } = "";

    [Required(ErrorMessage = "Enter your password.")]
    public string Password { get; set; } = "";

    public bool RememberMe { get; set; }
}
