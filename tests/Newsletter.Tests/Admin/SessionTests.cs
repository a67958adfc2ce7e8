using System.Net;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using static Newsletter.Tests.Admin.AuthorTestClients;

namespace Newsletter.Tests.Admin;

public class SessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Uri Site = new("http://localhost");

    /// <summary>The owner signed in through a browser whose cookie jar the test holds.</summary>
    private static async Task<(HttpClient Browser, CookieContainer Cookies)> OwnerAsync(NewsletterApp app)
    {
        var cookies = new CookieContainer();
        var browser = Browser(app, cookies);
        await Forms.SetUpOwnerAsync(browser, "owner@example.org", Password);
        return (browser, cookies);
    }

    /// <summary>Another device presenting a copy of the session cookie.</summary>
    private static HttpClient CopyOf(NewsletterApp app, CookieContainer cookies)
    {
        var thief = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        thief.DefaultRequestHeaders.Add("Cookie", "newsletter.auth=" + cookies.GetCookies(Site)["newsletter.auth"]!.Value);
        return thief;
    }

    private static async Task<string?> StampAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Users.AsNoTracking().Select(u => u.SecurityStamp).SingleAsync(Ct);
    }

    [Fact]
    public async Task ACopiedCookieStopsWorkingAfterLogout()
    {
        using var app = new NewsletterApp();
        var (owner, cookies) = await OwnerAsync(app);
        var copy = CopyOf(app, cookies);
        Assert.Equal(HttpStatusCode.OK, (await copy.GetAsync("/admin", Ct)).StatusCode);

        var loggedOut = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string>(), "/admin/logout");
        Assert.Equal(HttpStatusCode.Redirect, loggedOut.StatusCode);

        var after = await copy.GetAsync("/admin", Ct);
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.StartsWith("/admin/login", after.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterAPasswordResetEveryOldSessionEnds()
    {
        using var app = new NewsletterApp();
        var (owner, _) = await OwnerAsync(app);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/admin", Ct)).StatusCode);

        await Forms.PostAsync(app.CreateBrowserClient(), "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = "owner@example.org" });
        var mail = await app.WaitForMailAsync("owner@example.org", m => m.TextBody?.Contains("/admin/reset-password", StringComparison.Ordinal) == true);
        var reset = await Forms.PostAsync(app.CreateBrowserClient(), Outbox.PathOf(Outbox.Link(mail, "/admin/reset-password")), new Dictionary<string, string> { ["Password"] = "a brand new long passphrase" });
        Assert.Equal(HttpStatusCode.Redirect, reset.StatusCode);

        Assert.Equal(HttpStatusCode.Redirect, (await owner.GetAsync("/admin", Ct)).StatusCode);
    }

    [Fact]
    public async Task ChangingThePasswordEndsOtherSessionsAndKeepsThisOne()
    {
        using var app = new NewsletterApp();
        var (owner, cookies) = await OwnerAsync(app);
        var otherDevice = CopyOf(app, cookies);

        var changed = await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string> { ["current"] = Password, ["next"] = "a brand new long passphrase" }, "/admin/account?handler=Password");
        Assert.Contains("Password changed.", await changed.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/admin", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await otherDevice.GetAsync("/admin", Ct)).StatusCode);
    }

    [Fact]
    public async Task OpeningTheAccountPageChangesNothing()
    {
        using var app = new NewsletterApp();
        var (owner, cookies) = await OwnerAsync(app);
        var otherDevice = CopyOf(app, cookies);
        var before = await StampAsync(app);

        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/admin/account", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/admin/account", Ct)).StatusCode);

        Assert.Equal(before, await StampAsync(app));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
            Assert.Null(await users.GetAuthenticatorKeyAsync((await users.FindByEmailAsync("owner@example.org"))!));
        }

        Assert.Equal(HttpStatusCode.OK, (await otherDevice.GetAsync("/admin", Ct)).StatusCode);
    }
}
