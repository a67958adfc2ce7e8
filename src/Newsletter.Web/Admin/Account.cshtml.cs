using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Site;

namespace Newsletter.Web.Admin;

public sealed class AccountModel(UserManager<AppUser> users, SignInManager<AppUser> signIn, IOptions<SiteOptions> site, SharedRateLimiter limiter) : PageModel
{
    /// <summary>
    /// The password is asked here so that a stolen session can't take the account over; unlimited, that session's
    /// holder could guess it here instead of at sign-in. Counted per account in the database (all nodes together):
    /// at worst the owner waits 15 minutes to change settings, while signing in and password reset are untouched.
    /// </summary>
    private static readonly RateLimit PasswordFailures = new("account-password-failures", Permits: 5, Window: TimeSpan.FromMinutes(15));

    public const string TooManyWrongPasswords = "Too many wrong passwords on this page. Try again in 15 minutes.";

    public string Email { get; private set; } = "";

    public bool TwoFactorEnabled { get; private set; }

    public int RecoveryCodesLeft { get; private set; }

    public string SharedKey { get; private set; } = "";

    public string AuthenticatorUri { get; private set; } = "";

    /// <summary>The otpauth link as an SVG QR code, drawn on the server: no script, nothing the CSP must allow.</summary>
    public string AuthenticatorQrSvg { get; private set; } = "";

    public IReadOnlyList<string>? RecoveryCodes { get; private set; }

    public string? Message { get; private set; }

    // Viewing changes nothing: a new authenticator key would change the security stamp and end every other session.
    public async Task<IActionResult> OnGetAsync() => await LoadAsync() ? Page() : Challenge();

    /// <summary>The author asked to set up two-factor: only now is an authenticator key made.</summary>
    [Requires(AuthorPolicies.Read)]
    public async Task<IActionResult> OnPostSetupAsync()
    {
        var user = await users.GetUserAsync(User);
        if (user is null)
        {
            return Challenge();
        }

        if (!await users.GetTwoFactorEnabledAsync(user))
        {
            await users.ResetAuthenticatorKeyAsync(user);
            await signIn.RefreshSignInAsync(user);
        }

        await LoadAsync();
        return Page();
    }

    [Requires(AuthorPolicies.Read)]
    public async Task<IActionResult> OnPostEnableAsync(string code, string? password)
    {
        var user = await users.GetUserAsync(User);
        if (user is null)
        {
            return Challenge();
        }

        // Turning it on with an authenticator of one's own locks the account's owner out, which is what someone
        // with a stolen session would do: it takes the password, as turning it off does.
        if (!await PasswordIsRightAsync(user, password, "Enter your password to turn on two-factor sign-in."))
        {
            await LoadAsync();
            return Page();
        }

        var ok = await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, (code ?? "").Replace(" ", "", StringComparison.Ordinal));
        if (!ok)
        {
            ModelState.AddModelError("", "That code didn't match. Check the time on your device and try the next code.");
            await LoadAsync();
            return Page();
        }

        await users.SetTwoFactorEnabledAsync(user, true);
        // The stamp changed, which ends every other session; this one continues.
        await signIn.RefreshSignInAsync(user);
        RecoveryCodes = [.. await users.GenerateNewTwoFactorRecoveryCodesAsync(user, 10) ?? []];
        Message = "Two-factor sign-in is on.";
        await LoadAsync();
        return Page();
    }

    [Requires(AuthorPolicies.Read)]
    public async Task<IActionResult> OnPostNewCodesAsync(string? password)
    {
        var user = await users.GetUserAsync(User);
        if (user is null)
        {
            return Challenge();
        }

        // New codes void the owner's own, and hand the session's holder a way past the second factor.
        if (!await PasswordIsRightAsync(user, password, "Enter your password to make new recovery codes."))
        {
            await LoadAsync();
            return Page();
        }

        RecoveryCodes = [.. await users.GenerateNewTwoFactorRecoveryCodesAsync(user, 10) ?? []];
        Message = "New recovery codes made; the old ones no longer work.";
        await LoadAsync();
        return Page();
    }

    [Requires(AuthorPolicies.Read)]
    public async Task<IActionResult> OnPostDisableAsync(string? password)
    {
        var user = await users.GetUserAsync(User);
        if (user is null)
        {
            return Challenge();
        }

        // Turning the second factor off is what someone with a stolen session would do first: it takes the password.
        if (!await PasswordIsRightAsync(user, password, "Enter your password to turn off two-factor sign-in."))
        {
            await LoadAsync();
            return Page();
        }

        await users.SetTwoFactorEnabledAsync(user, false);
        // A new key, so the old authenticator entry can't be turned back on by someone who copied it.
        await users.ResetAuthenticatorKeyAsync(user);
        await signIn.RefreshSignInAsync(user);
        Message = "Two-factor sign-in is off.";
        await LoadAsync();
        return Page();
    }

    [Requires(AuthorPolicies.Read)]
    public async Task<IActionResult> OnPostPasswordAsync(string current, string next)
    {
        var user = await users.GetUserAsync(User);
        if (user is null)
        {
            return Challenge();
        }

        if (!await PasswordIsRightAsync(user, current, "Your current password is not right."))
        {
            await LoadAsync();
            return Page();
        }

        var result = await users.ChangePasswordAsync(user, current ?? "", next ?? "");
        if (result.Succeeded)
        {
            await signIn.RefreshSignInAsync(user);
            Message = "Password changed.";
        }
        else
        {
            foreach (var e in result.Errors)
            {
                ModelState.AddModelError("", e.Description);
            }
        }

        await LoadAsync();
        return Page();
    }

    /// <summary>The account's password, checked within <see cref="PasswordFailures"/>; a refusal is put on the page.</summary>
    private async Task<bool> PasswordIsRightAsync(AppUser user, string? password, string refusal)
    {
        var ct = HttpContext.RequestAborted;
        // Checked before the password, so that a right guess after the limit is refused like a wrong one.
        if (await limiter.IsUsedUpAsync(PasswordFailures, user.Id, ct))
        {
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            ModelState.AddModelError("", TooManyWrongPasswords);
            return false;
        }

        if (await users.CheckPasswordAsync(user, password ?? ""))
        {
            return true;
        }

        await limiter.TryAcquireAsync(PasswordFailures, user.Id, ct);
        ModelState.AddModelError("", refusal);
        return false;
    }

    private async Task<bool> LoadAsync()
    {
        var user = await users.GetUserAsync(User);
        if (user is null)
        {
            return false;
        }

        Email = user.Email ?? "";
        TwoFactorEnabled = await users.GetTwoFactorEnabledAsync(user);
        RecoveryCodesLeft = await users.CountRecoveryCodesAsync(user);
        var key = await users.GetAuthenticatorKeyAsync(user) ?? "";
        if (key.Length == 0)
        {
            return true; // no key until the author asks for one (OnPostSetupAsync)
        }

        SharedKey = string.Join(' ', key.ToLowerInvariant().Chunk(4).Select(c => new string(c)));
        var issuer = UrlEncoder.Default.Encode(site.Value.Title);
        AuthenticatorUri = $"otpauth://totp/{issuer}:{UrlEncoder.Default.Encode(Email)}?secret={key}&issuer={issuer}&digits=6";
        using var qr = QRCoder.QRCodeGenerator.GenerateQrCode(AuthenticatorUri, QRCoder.QRCodeGenerator.ECCLevel.M);
        AuthenticatorQrSvg = new QRCoder.SvgQRCode(qr).GetGraphic(8, "#000000", "#ffffff", drawQuietZones: true, sizingMode: QRCoder.SvgQRCode.SizingMode.ViewBoxAttribute);
        return true;
    }
}
