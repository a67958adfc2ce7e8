using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;

namespace Newsletter.Tests.Admin;

public partial class AccountTests
{
    private const string Password = "correct horse battery staple";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient client, string email, string password) =>
        await Forms.PostAsync(client, "/admin/login", new Dictionary<string, string> { ["Input.Email"] = email, ["Input.Password"] = password });

    [Fact]
    public async Task AForgottenPasswordIsResetThroughTheEmailedLinkWhichThenStopsWorking()
    {
        using var app = new NewsletterApp();
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient(), "owner@example.org", Password);
        var visitor = app.CreateBrowserClient();
        var asked = await Forms.PostAsync(visitor, "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = "owner@example.org" });
        Assert.Equal(HttpStatusCode.OK, asked.StatusCode);

        var mail = await app.WaitForMailAsync("owner@example.org", m => m.TextBody?.Contains("/admin/reset-password", StringComparison.Ordinal) == true);
        var link = Outbox.PathOf(Outbox.Link(mail, "/admin/reset-password"));
        var reset = await Forms.PostAsync(visitor, link, new Dictionary<string, string> { ["Password"] = "a brand new long passphrase" });
        Assert.Equal(HttpStatusCode.Redirect, reset.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(app.CreateBrowserClient(), "owner@example.org", Password)).StatusCode); // old password: the form again
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(app.CreateBrowserClient(), "owner@example.org", "a brand new long passphrase")).StatusCode);

        var again = await Forms.PostAsync(app.CreateBrowserClient(), link, new Dictionary<string, string> { ["Password"] = "a third long passphrase!" });
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Contains("not valid or has expired", await again.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    /// <summary>
    /// A stolen session can't guess the password on the account page, where it would change it or turn two-factor
    /// off: after five wrong ones every handler refuses, the right password too, while signing in still works.
    /// </summary>
    [Fact]
    public async Task TheAccountPageStopsPasswordGuessesFromASession()
    {
        using var app = new NewsletterApp();
        var session = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(session, "owner@example.org", Password);
        for (var i = 0; i < 5; i++)
        {
            var handler = i % 2 == 0 ? "Password" : "NewCodes";
            var form = handler == "Password"
                ? new Dictionary<string, string> { ["current"] = $"guess {i}", ["next"] = "the thief's new passphrase" }
                : new Dictionary<string, string> { ["password"] = $"guess {i}" };
            var wrong = await Forms.PostAsync(session, "/admin/account", form, $"/admin/account?handler={handler}");
            Assert.Equal(HttpStatusCode.OK, wrong.StatusCode);
            Assert.DoesNotContain(Web.Admin.AccountModel.TooManyWrongPasswords, await wrong.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        foreach (var (handler, form) in new[]
        {
            ("Password", new Dictionary<string, string> { ["current"] = Password, ["next"] = "the thief's new passphrase" }),
            ("Disable", new Dictionary<string, string> { ["password"] = Password }),
        })
        {
            var refused = await Forms.PostAsync(session, "/admin/account", form, $"/admin/account?handler={handler}");
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Contains(Web.Admin.AccountModel.TooManyWrongPasswords, await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        // The password is unchanged, and the owner signs in with it from anywhere.
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(app.CreateBrowserClient(), "owner@example.org", Password)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(app.CreateBrowserClient(), "owner@example.org", "the thief's new passphrase")).StatusCode);
    }

    [Fact]
    public async Task ForgotPasswordAnswersTheSameForAnUnknownAddressAndSendsNothing()
    {
        using var app = new NewsletterApp();
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient(), "owner@example.org", Password);
        var known = await Forms.PostAsync(app.CreateBrowserClient(), "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = "owner@example.org" });
        var unknown = await Forms.PostAsync(app.CreateBrowserClient(), "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = "nobody@example.org" });
        Assert.Equal(Text(await known.Content.ReadAsStringAsync(Ct)), Text(await unknown.Content.ReadAsStringAsync(Ct)));
        await app.WaitForMailAsync("owner@example.org");
        Assert.DoesNotContain(Outbox.Read(app.PickupFolder), m => m.To.ToString().Contains("nobody", StringComparison.Ordinal));

        // The page differs only in its antiforgery token.
        static string Text(string html) => AntiforgeryToken().Replace(html, "");
    }

    [Fact]
    public async Task TheOwnerInvitesACoAuthorWhoSetsAPasswordSignsInAndCannotInviteOthers()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner, "owner@example.org", Password);
        var invited = await Forms.PostAsync(owner, "/admin/users", new Dictionary<string, string> { ["name"] = "Ada", ["email"] = "ada@example.org" });
        Assert.Contains("Invitation sent to ada@example.org", await invited.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // No password yet: the invitation is the only way in.
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(app.CreateBrowserClient(), "ada@example.org", "")).StatusCode);
        var mail = await app.WaitForMailAsync("ada@example.org");
        var link = Outbox.PathOf(Outbox.Link(mail, "/admin/reset-password"));
        var ada = app.CreateBrowserClient();
        var accepted = await Forms.PostAsync(ada, link, new Dictionary<string, string> { ["Password"] = "ada's own long passphrase" });
        Assert.Equal(HttpStatusCode.Redirect, accepted.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(ada, "ada@example.org", "ada's own long passphrase")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync("/admin/notes", Ct)).StatusCode);

        // The page offers a co-author no form; a forged post is refused all the same.
        var byCoAuthor = await Forms.PostAsync(ada, "/admin/account", new Dictionary<string, string> { ["name"] = "Eve", ["email"] = "eve@example.org" }, "/admin/users");
        Assert.Equal(HttpStatusCode.Forbidden, byCoAuthor.StatusCode);
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Null(await scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<Newsletter.Web.Data.AppUser>>().FindByEmailAsync("eve@example.org"));
    }

    [Fact]
    public async Task TwoFactorSignInNeedsTheAuthenticatorCodeAndEachRecoveryCodeWorksOnce()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner, "owner@example.org", Password);
        var setup = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string>(), "/admin/account?handler=Setup");
        var account = await setup.Content.ReadAsStringAsync(Ct);
        var key = TotpKey().Match(account).Groups[1].Value.Replace(" ", "", StringComparison.Ordinal);
        Assert.NotEmpty(key);
        // The QR code is an inline SVG drawn on the server (no script, no image from elsewhere).
        Assert.Matches("<figure class=\"totp-qr\"[^>]*><svg [^>]*viewBox=", account);

        var wrong = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string> { ["code"] = "000000", ["password"] = Password }, "/admin/account?handler=Enable");
        Assert.Contains("That code didn", await wrong.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        // The code and its 30-second step are kept: on a loaded machine the next step can begin before the reuse
        // below, and a code computed again then would be a fresh one, not the used one.
        var enabledAt = DateTimeOffset.UtcNow;
        var enablingCode = Totp(key, at: enabledAt);
        // A session alone (a stolen cookie) can't turn it on with its own authenticator: the password is asked.
        var withoutPassword = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string> { ["code"] = enablingCode }, "/admin/account?handler=Enable");
        Assert.Contains("Enter your password to turn on two-factor sign-in.", await withoutPassword.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var enabled = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string> { ["code"] = enablingCode, ["password"] = Password }, "/admin/account?handler=Enable");
        var page = await enabled.Content.ReadAsStringAsync(Ct);
        Assert.Contains("Two-factor sign-in is on.", page, StringComparison.Ordinal);
        var recovery = RecoveryCode().Matches(page).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(10, recovery.Count);

        // The password alone now leads to the second step, not into the admin.
        var client = app.CreateBrowserClient();
        var first = await SignInAsync(client, "owner@example.org", Password);
        Assert.StartsWith("/admin/login/2fa", first.Headers.Location!.OriginalString, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/admin", Ct)).StatusCode);
        var bad = await Forms.PostAsync(client, first.Headers.Location.OriginalString, new Dictionary<string, string> { ["Code"] = "123456" }, "/admin/login/2fa");
        Assert.Equal(HttpStatusCode.OK, bad.StatusCode);
        // The code that turned two-factor on has been used: the next one signs in (apps show it 30 s later;
        // it is accepted a step early, like a phone whose clock runs ahead).
        var reused = await Forms.PostAsync(client, first.Headers.Location.OriginalString, new Dictionary<string, string> { ["Code"] = enablingCode }, "/admin/login/2fa");
        Assert.Equal(HttpStatusCode.OK, reused.StatusCode);
        var next = Totp(key, at: enabledAt.AddSeconds(30));
        var good = await Forms.PostAsync(client, first.Headers.Location.OriginalString, new Dictionary<string, string> { ["Code"] = next }, "/admin/login/2fa");
        Assert.Equal(HttpStatusCode.Redirect, good.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/admin", Ct)).StatusCode);
        Assert.False(await SignInWithSecondFactorAsync(app, next)); // a code signs in once, even within its window

        // A recovery code works once.
        Assert.True(await SignInWithSecondFactorAsync(app, recovery[0]));
        Assert.False(await SignInWithSecondFactorAsync(app, recovery[0]));

        // New recovery codes take the password too; without it the old ones still work.
        var noCodes = await Forms.PostAsync(client, "/admin/account", new Dictionary<string, string>(), "/admin/account?handler=NewCodes");
        Assert.Contains("Enter your password to make new recovery codes.", await noCodes.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.True(await SignInWithSecondFactorAsync(app, recovery[1]));

        // Turning it off takes the password, not just the session.
        var refused = await Forms.PostAsync(client, "/admin/account", new Dictionary<string, string> { ["password"] = "a guess" }, "/admin/account?handler=Disable");
        Assert.Contains("Enter your password", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var off = await Forms.PostAsync(client, "/admin/account", new Dictionary<string, string> { ["password"] = Password }, "/admin/account?handler=Disable");
        Assert.Contains("Two-factor sign-in is off.", await off.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var passwordOnly = await SignInAsync(app.CreateBrowserClient(), "owner@example.org", Password);
        Assert.Equal("/admin", passwordOnly.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task TwoFactorSecretsAreNotReadableInTheDatabaseAndOneCodeRacedTwiceSignsInOnce()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner, "owner@example.org", Password);
        var setup = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string>(), "/admin/account?handler=Setup");
        var key = TotpKey().Match(await setup.Content.ReadAsStringAsync(Ct)).Groups[1].Value.Replace(" ", "", StringComparison.Ordinal);
        var enabled = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string> { ["code"] = Totp(key), ["password"] = Password }, "/admin/account?handler=Enable");
        var recovery = RecoveryCode().Matches(await enabled.Content.ReadAsStringAsync(Ct)).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(10, recovery.Count);

        // What a copied database holds: neither the key nor any recovery code.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.AppDbContext>();
            var stored = string.Join("\n", await db.UserTokens.Select(t => t.Value ?? "").ToListAsync(Ct));
            Assert.DoesNotContain(key, stored, StringComparison.OrdinalIgnoreCase);
            Assert.All(recovery, c => Assert.DoesNotContain(c.Replace("-", "", StringComparison.Ordinal), stored.Replace("-", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase));
        }

        // Three sign-ins at the second step with one fresh code, at once: exactly one gets in. (Few enough that
        // the losers' failures stay under the lockout.)
        var code = Totp(key, TimeSpan.FromSeconds(30));
        var clients = new List<(HttpClient Client, string Path)>();
        for (var i = 0; i < 3; i++)
        {
            var client = app.CreateBrowserClient();
            var first = await SignInAsync(client, "owner@example.org", Password);
            clients.Add((client, first.Headers.Location!.OriginalString));
        }

        var tokens = await Task.WhenAll(clients.Select(async c => (c.Client, c.Path, Token: Forms.Token(await (await c.Client.GetAsync(c.Path, Ct)).Content.ReadAsStringAsync(Ct))!)));
        var answers = await Task.WhenAll(tokens.Select(t => t.Client.PostAsync(t.Path, new FormUrlEncodedContent(new Dictionary<string, string> { ["Code"] = code, ["__RequestVerificationToken"] = t.Token }), Ct)));
        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Redirect);

        // The same for a recovery code, with dashes and case as a person might type it.
        var typed = recovery[3].ToLowerInvariant();
        var second = new List<(HttpClient Client, string Path, string Token)>();
        for (var i = 0; i < 3; i++)
        {
            var client = app.CreateBrowserClient();
            var first = await SignInAsync(client, "owner@example.org", Password);
            var path = first.Headers.Location!.OriginalString;
            second.Add((client, path, Forms.Token(await (await client.GetAsync(path, Ct)).Content.ReadAsStringAsync(Ct))!));
        }

        var redeemed = await Task.WhenAll(second.Select(t => t.Client.PostAsync(t.Path, new FormUrlEncodedContent(new Dictionary<string, string> { ["Code"] = typed, ["__RequestVerificationToken"] = t.Token }), Ct)));
        Assert.Single(redeemed, a => a.StatusCode == HttpStatusCode.Redirect);
        Assert.True(await SignInWithSecondFactorAsync(app, recovery[4]));
    }

    [Theory]
    [InlineData("http://localhost", false)]
    [InlineData("https://news.example.org", true)]
    public async Task CookiesAreHttpOnlyAndSameSiteAndTheSessionAndFlashAreSecureWhenTheSiteIsHttps(string baseUrl, bool secure)
    {
        using var app = new NewsletterApp(new() { ["Site:BaseUrl"] = baseUrl });
        var client = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        var setup = await client.GetAsync("/admin/setup", Ct);
        var antiforgery = Assert.Single(setup.Headers.GetValues("Set-Cookie"), c => c.StartsWith("newsletter.af=", StringComparison.Ordinal));
        var token = Forms.Token(await setup.Content.ReadAsStringAsync(Ct))!;
        using var post = new HttpRequestMessage(HttpMethod.Post, "/admin/setup")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["Input.DisplayName"] = "Owner",
                ["Input.Email"] = "owner@example.org",
                ["Input.Password"] = Password,
                ["__RequestVerificationToken"] = token,
            }),
        };
        post.Headers.Add("Cookie", antiforgery.Split(';')[0]);
        var created = await client.SendAsync(post, Ct);
        Assert.Equal(HttpStatusCode.Redirect, created.StatusCode);
        var session = Assert.Single(created.Headers.GetValues("Set-Cookie"), c => c.StartsWith("newsletter.auth=", StringComparison.Ordinal));

        foreach (var cookie in new[] { antiforgery.ToLowerInvariant(), session.ToLowerInvariant() })
        {
            Assert.Contains("httponly", cookie, StringComparison.Ordinal);
            Assert.Contains("samesite=", cookie, StringComparison.Ordinal);
        }

        // The request came over plain http: the session cookie is Secure because the site is https; the
        // antiforgery cookie follows the request, so a misconfigured proxy still gets working forms.
        Assert.Equal(secure, session.Contains("; secure", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain("; secure", antiforgery, StringComparison.OrdinalIgnoreCase);

        // The flash a sign-up form leaves for the page after its redirect (the error and the address typed) follows
        // the session's rule: it was sent in clear text from an https site behind a proxy that forgot the scheme.
        var subscribed = await client.PostAsync("/subscribe", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = "not an address" }), Ct);
        var flash = Assert.Single(subscribed.Headers.GetValues("Set-Cookie"), c => c.StartsWith(".AspNetCore.Mvc.CookieTempDataProvider=", StringComparison.Ordinal));
        Assert.Equal(secure, flash.Contains("; secure", StringComparison.OrdinalIgnoreCase));
    }

    private static async Task<bool> SignInWithSecondFactorAsync(NewsletterApp app, string code)
    {
        var client = app.CreateBrowserClient();
        var first = await SignInAsync(client, "owner@example.org", Password);
        var second = await Forms.PostAsync(client, first.Headers.Location!.OriginalString, new Dictionary<string, string> { ["Code"] = code }, "/admin/login/2fa");
        return second.StatusCode == HttpStatusCode.Redirect;
    }

    /// <summary>RFC 6238 with the defaults every authenticator app uses: SHA-1, 30 seconds, 6 digits.</summary>
    private static string Totp(string base32Key, TimeSpan ahead = default, DateTimeOffset? at = null)
    {
        var key = Base32(base32Key);
        var counter = BitConverter.GetBytes((at ?? DateTimeOffset.UtcNow).Add(ahead).ToUnixTimeSeconds() / 30);
        if (BitConverter.IsLittleEndian)
        {
            Array.Reverse(counter);
        }

        var hash = HMACSHA1.HashData(key, counter);
        var offset = hash[^1] & 0x0f;
        var code = ((hash[offset] & 0x7f) << 24 | hash[offset + 1] << 16 | hash[offset + 2] << 8 | hash[offset + 3]) % 1_000_000;
        return code.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static byte[] Base32(string text)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bits = string.Concat(text.ToUpperInvariant().TrimEnd('=').Select(c => Convert.ToString(alphabet.IndexOf(c), 2).PadLeft(5, '0')));
        return [.. Enumerable.Range(0, bits.Length / 8).Select(i => Convert.ToByte(bits.Substring(i * 8, 8), 2))];
    }

    [GeneratedRegex("class=\"totp-key\">([^<]+)<")]
    private static partial Regex TotpKey();

    [GeneratedRegex("<li><code>([^<]+)</code></li>")]
    private static partial Regex RecoveryCode();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"[^\"]+\"")]
    private static partial Regex AntiforgeryToken();
}
