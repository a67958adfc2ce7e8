using System.Net;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;

namespace Newsletter.Tests.Admin;

public class AdminAccessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryAdminEndpointTurnsAwayAnonymousVisitors()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient()); // so /admin/login doesn't bounce to setup
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.TrimStart('/').StartsWith("admin", StringComparison.OrdinalIgnoreCase) == true)
            .Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is null)
            .ToList();
        Assert.True(endpoints.Count >= 8, $"expected the admin pages to be found, got {endpoints.Count}");
        foreach (var endpoint in endpoints)
        {
            var url = "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
            {
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart l => l.Content,
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart { IsCatchAll: true } => "x",
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart => "1",
                _ => "",
            }))));
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            var request = new HttpRequestMessage(new HttpMethod(methods.Contains("GET") ? "GET" : methods[0]), url);
            var response = await client.SendAsync(request, Ct);
            Assert.True(
                response.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                && (response.StatusCode != HttpStatusCode.Redirect || response.Headers.Location!.OriginalString.Contains("/admin/login", StringComparison.Ordinal)),
                $"{request.Method} {url} answered {(int)response.StatusCode} to an anonymous visitor");
        }
    }

    [Fact]
    public async Task TheJobsDashboardIsForAuthorsOnly()
    {
        using var app = new NewsletterApp();
        var anonymous = await app.CreateBrowserClient().GetAsync("/admin/jobs", Ct);
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        Assert.Equal(HttpStatusCode.OK, (await author.GetAsync("/admin/jobs", Ct)).StatusCode);
    }

    [Fact]
    public async Task SetupCreatesTheOwnerOnceAndThenIsGone()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/admin/setup", Ct)).StatusCode);
        await Forms.SetUpOwnerAsync(client);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/admin", Ct)).StatusCode);

        var stranger = app.CreateBrowserClient();
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync("/admin/setup", Ct)).StatusCode);
        // Even with a token from before the owner existed, a second setup post is refused.
        var token = Forms.Token(await app.CreateBrowserClient().GetStringAsync("/admin/login", Ct));
        var second = await stranger.PostAsync("/admin/setup", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token ?? "",
            ["Input.DisplayName"] = "Mallory",
            ["Input.Email"] = "mallory@example.org",
            ["Input.Password"] = "a long enough password",
        }), Ct);
        Assert.True(second.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"second setup answered {(int)second.StatusCode}");
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<AppDbContext>().Users.CountAsync(Ct));
    }

    [Fact]
    public async Task ConcurrentSetupPostsCreateExactlyOneOwner()
    {
        using var app = new NewsletterApp();
        var clients = Enumerable.Range(0, 6).Select(_ => app.CreateBrowserClient()).ToList();
        var tokens = new List<string>();
        foreach (var c in clients)
        {
            tokens.Add(await Forms.TokenAsync(c, "/admin/setup"));
        }

        var posts = clients.Select((c, i) => c.PostAsync("/admin/setup", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = tokens[i],
            ["Input.DisplayName"] = $"Owner {i}",
            ["Input.Email"] = $"owner{i}@example.org",
            ["Input.Password"] = "correct horse battery staple",
        }), Ct));
        var responses = await Task.WhenAll(posts);
        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Redirect));
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<AppDbContext>().Users.CountAsync(Ct));
    }

    [Fact]
    public async Task AdminPostsWithoutAnAntiforgeryTokenAreRejected()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var response = await client.PostAsync("/admin/notes/new", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Input.Title"] = "Forged",
            ["Input.Markdown"] = "x",
            ["intent"] = "publish",
        }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await using var scope = app.Services.CreateAsyncScope();
        Assert.False(await scope.ServiceProvider.GetRequiredService<AppDbContext>().Notes.AnyAsync(n => n.Title == "Forged", Ct));
    }

    [Fact]
    public async Task FiveWrongPasswordsLockTheAccount()
    {
        using var app = new NewsletterApp();
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient(), "locked@example.org", "the right password here");
        var client = app.CreateBrowserClient();
        for (var i = 0; i < 5; i++)
        {
            var wrong = await Forms.PostAsync(client, "/admin/login", new Dictionary<string, string> { ["Input.Email"] = "locked@example.org", ["Input.Password"] = "wrong password " + i });
            Assert.Equal(HttpStatusCode.OK, wrong.StatusCode);
        }

        var right = await Forms.PostAsync(client, "/admin/login", new Dictionary<string, string> { ["Input.Email"] = "locked@example.org", ["Input.Password"] = "the right password here" });
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Contains("locked", await right.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/admin", Ct)).StatusCode);
    }

    [Fact]
    public async Task LoginWithTheRightPasswordOpensTheAdminAndLogoutClosesIt()
    {
        using var app = new NewsletterApp();
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient(), "me@example.org", "the right password here");
        var client = app.CreateBrowserClient();
        var login = await Forms.PostAsync(client, "/admin/login", new Dictionary<string, string> { ["Input.Email"] = "me@example.org", ["Input.Password"] = "the right password here" });
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/admin", Ct)).StatusCode);
        // A sign-out posted without the form's token (from another page of the same site) is refused: it would end every session.
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsync("/admin/logout", new FormUrlEncodedContent([]), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/admin", Ct)).StatusCode);
        var logout = await Forms.PostAsync(client, "/admin/account", new Dictionary<string, string>(), "/admin/logout");
        Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/admin", Ct)).StatusCode);
    }

    [Fact]
    public async Task LoginRefusesToRedirectOffSite()
    {
        using var app = new NewsletterApp();
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient(), "me@example.org", "the right password here");
        var client = app.CreateBrowserClient();
        var login = await Forms.PostAsync(client, "/admin/login?ReturnUrl=https%3A%2F%2Fevil.example%2F", new Dictionary<string, string>
        {
            ["Input.Email"] = "me@example.org",
            ["Input.Password"] = "the right password here",
            ["ReturnUrl"] = "https://evil.example/",
        });
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        Assert.Equal("/admin", login.Headers.Location!.OriginalString);
    }
}
