using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Api;
using Newsletter.Web.Data;
using static Newsletter.Tests.Api.ApiClients;

namespace Newsletter.Tests.Api;

public class ApiTokenTests
{
    [Fact]
    public async Task AReadTokenReadsButCannotWriteAndOnlyASendTokenSends()
    {
        using var app = new NewsletterApp();
        var read = await ClientAsync(app, ApiScopes.Read);
        var write = await ClientAsync(app, ApiScopes.Write);

        Assert.Equal(HttpStatusCode.OK, (await read.GetAsync("/api/v1/subscribers", Ct)).StatusCode);
        var (refused, problem) = await PostJsonAsync(read, "/api/v1/subscribers", new { email = "ann@example.org", doubleOptIn = false, consent = "asked" });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("'write' scope", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, (await GetJsonAsync(await ClientAsync(app, ApiScopes.Read), "/api/v1/subscribers")).GetProperty("items").GetArrayLength());

        // A write token composes, but sending mails real readers: that is the send scope's alone.
        var (created, issue) = await PostJsonAsync(write, "/api/v1/issues", new { subject = "Scopes", markdown = "Hello." });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = issue.GetProperty("id").GetInt32();
        var (notSent, sendProblem) = await PostJsonAsync(write, $"/api/v1/issues/{id}/send", null);
        Assert.Equal(HttpStatusCode.Forbidden, notSent.StatusCode);
        Assert.Contains("'send' scope", sendProblem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await write.GetAsync($"/api/v1/issues/{id}", Ct)).StatusCode);

        var send = await ClientAsync(app, ApiScopes.Send);
        var (sent, _) = await PostJsonAsync(send, $"/api/v1/issues/{id}/send", null);
        Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);

        // A metrics token is for Prometheus: it opens no API endpoint.
        Assert.Equal(HttpStatusCode.Forbidden, (await (await ClientAsync(app, ApiScopes.Metrics)).GetAsync("/api/v1/subscribers", Ct)).StatusCode);
    }

    /// <summary>
    /// A token made with "write" by an author who is now a viewer: refused, and told it is the role, not the token,
    /// since "lacks the 'write' scope" sent the caller to make a new token that would be refused the same way.
    /// </summary>
    [Fact]
    public async Task ATokenWhoseAuthorsRoleNoLongerAllowsAScopeIsToldSo()
    {
        using var app = new NewsletterApp();
        var viewer = With(app, await TokenAsync(app, ApiScopes.Read | ApiScopes.Write, role: Web.Admin.AuthorRole.Viewer));
        var (refused, problem) = await PostJsonAsync(viewer, "/api/v1/subscribers", new { email = "ann@example.org", doubleOptIn = false, consent = "asked" });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("made with the 'write' scope, but its author's role (viewer) no longer allows it", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevokedForgedExpiredAndMissingTokensAreRefusedWith401()
    {
        using var app = new NewsletterApp();
        var token = await TokenAsync(app, ApiScopes.Read);
        Assert.Equal(HttpStatusCode.OK, (await With(app, token).GetAsync("/api/v1/subscribers", Ct)).StatusCode);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var id = await db.ApiTokens.Select(t => t.Id).SingleAsync(Ct);
            Assert.True(await scope.ServiceProvider.GetRequiredService<ApiTokens>().RevokeAsync(id, "Test Author", Ct));
        }

        var expired = await TokenAsync(app, ApiScopes.Read, DateTime.UtcNow.AddMinutes(-1));
        var forged = "nl_" + new string('a', 64);
        foreach (var (name, given) in new[] { ("revoked", token), ("expired", expired), ("forged", forged), ("another system's", "ghp_abc"), ("cut short", token[..20]) })
        {
            var response = await With(app, given).GetAsync("/api/v1/subscribers", Ct);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{name}: {(int)response.StatusCode}");
            Assert.Equal("Bearer error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        var anonymous = await app.CreateClient().GetAsync("/api/v1/subscribers", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task ASignedInAuthorsCookieDoesNotOpenTheApiAndATokenDoesNotOpenTheAdmin()
    {
        using var app = new NewsletterApp();
        var browser = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(browser);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/admin/subscribers", Ct)).StatusCode);

        // The session cookie on /api: refused, and no form-post from another site can ride on it.
        var cookie = await browser.GetAsync("/api/v1/subscribers", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, cookie.StatusCode);
        var posted = await browser.PostAsJsonAsync("/api/v1/subscribers", new { email = "forged@example.org" }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, posted.StatusCode);

        // A token on an admin page, JSON endpoint or export: sent to sign in, shown nothing.
        var api = await ClientAsync(app, ApiScopes.Read | ApiScopes.Write | ApiScopes.Send | ApiScopes.Metrics);
        foreach (var url in new[] { "/admin", "/admin/subscribers", "/admin/subscribers/export.csv", "/admin/api-tokens", "/admin/api-reference" })
        {
            var response = await api.GetAsync(url, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.Redirect && response.Headers.Location!.ToString().Contains("/admin/login", StringComparison.Ordinal),
                $"{url}: {(int)response.StatusCode} {response.Headers.Location}");
        }
    }

    [Fact]
    public async Task AnAuthorMakesATokenOnTheAdminPageSeesItOnceAndRevokesIt()
    {
        using var app = new NewsletterApp();
        var browser = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(browser);
        var made = await Forms.PostAsync(browser, "/admin/api-tokens", new Dictionary<string, string> { ["name"] = "import script", ["scopes"] = "read", ["days"] = "30" }, "/admin/api-tokens?handler=Create");
        var html = await made.Content.ReadAsStringAsync(Ct);
        var secret = System.Text.RegularExpressions.Regex.Match(html, "nl_[0-9a-f]{64}").Value;
        Assert.NotEmpty(secret);
        Assert.Equal(HttpStatusCode.OK, (await With(app, secret).GetAsync("/api/v1/subscribers", Ct)).StatusCode);

        // Stored as a hash, listed by its first characters only.
        var page = await browser.GetStringAsync("/admin/api-tokens", Ct);
        Assert.DoesNotContain(secret, page, StringComparison.Ordinal);
        Assert.Contains(secret[..9], page, StringComparison.Ordinal);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var token = await scope.ServiceProvider.GetRequiredService<AppDbContext>().ApiTokens.SingleAsync(Ct);
            Assert.Equal(ApiTokens.HashOf(secret), token.Hash);
            Assert.Equal("Owner", token.CreatedByName);
            Assert.NotNull(token.LastUsedAt);
            Assert.True(token.ExpiresAt > DateTime.UtcNow.AddDays(29));
        }

        var id = System.Text.RegularExpressions.Regex.Match(page, "name=\"id\" value=\"(\\d+)\"").Groups[1].Value;
        await Forms.PostAsync(browser, "/admin/api-tokens", new Dictionary<string, string> { ["id"] = id }, "/admin/api-tokens?handler=Revoke");
        Assert.Equal(HttpStatusCode.Unauthorized, (await With(app, secret).GetAsync("/api/v1/subscribers", Ct)).StatusCode);

        // Both are in the audit log, with who did them and the token's name, never its secret.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var audit = await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEntries.AsNoTracking()
                .Where(e => e.ObjectType == "token" && e.ObjectId == id).OrderBy(e => e.Id).ToListAsync(Ct);
            Assert.Equal([Newsletter.Web.Audit.AuditActions.TokenCreate, Newsletter.Web.Audit.AuditActions.TokenRevoke], audit.Select(e => e.Action));
            Assert.All(audit, e => Assert.Equal("Owner", e.ActorName));
            Assert.Contains("“import script”: read, 30 days", audit[0].Detail, StringComparison.Ordinal);
            Assert.All(audit, e => Assert.DoesNotContain(secret[3..], e.Detail, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task LastUsedIsWrittenOnceAMinuteNotOnEveryRequest()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app, ApiScopes.Read);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/subscribers", Ct)).StatusCode);
        DateTime? first;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            first = (await scope.ServiceProvider.GetRequiredService<AppDbContext>().ApiTokens.SingleAsync(Ct)).LastUsedAt;
        }

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/subscribers", Ct)).StatusCode);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.NotNull(first);
            Assert.Equal(first, (await scope.ServiceProvider.GetRequiredService<AppDbContext>().ApiTokens.SingleAsync(Ct)).LastUsedAt);
        }
    }

    [Fact]
    public async Task ATokenOverItsLimitGets429WithRetryAfterAndAnotherTokenIsNotSlowedDown()
    {
        using var app = new NewsletterApp(new Dictionary<string, string?> { ["Api:RequestsPerMinute"] = "3" });
        var busy = await ClientAsync(app, ApiScopes.Read);
        // A fixed window: a minute's edge may fall between the requests, so ask until the limit shows, at most two windows' worth.
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 7 && limited is null; i++)
        {
            var response = await busy.GetAsync("/api/v1/subscribers", Ct);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
        }

        Assert.NotNull(limited);
        var retryAfter = int.Parse(limited.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);
        var problem = await JsonAsync(limited);
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Contains("3 requests a minute", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var other = await ClientAsync(app, ApiScopes.Read);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/api/v1/subscribers", Ct)).StatusCode);
    }
}
