using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.EntityFrameworkCore;
using Newsletter.Testing;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;
using Newsletter.Web.Api;

namespace Newsletter.Tests.Api;

/// <summary>Tokens made the way the admin page makes them (through <see cref="ApiTokens"/>), and clients that carry them.</summary>
internal static class ApiClients
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A token of an author in <paramref name="role"/> (made on first use): a token follows its author's role.</summary>
    public static async Task<string> TokenAsync(NewsletterApp app, ApiScopes scopes, DateTime? expiresAt = null, AuthorRole role = AuthorRole.Owner)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var authorId = "test-author-" + role.ToString().ToLowerInvariant();
        if (!await db.Users.AnyAsync(u => u.Id == authorId, Ct))
        {
            db.Users.Add(new AppUser { Id = authorId, UserName = authorId + "@example.org", NormalizedUserName = (authorId + "@example.org").ToUpperInvariant(), Email = authorId + "@example.org", DisplayName = "Test " + role, Role = role, SecurityStamp = Guid.NewGuid().ToString() });
            await db.SaveChangesAsync(Ct);
        }

        var made = await scope.ServiceProvider.GetRequiredService<ApiTokens>().CreateAsync("test " + scopes, scopes, expiresAt, authorId, "Test " + role, Ct);
        return made.Secret;
    }

    public static async Task<HttpClient> ClientAsync(NewsletterApp app, ApiScopes scopes = ApiScopes.Read | ApiScopes.Write | ApiScopes.Send) =>
        With(app, await TokenAsync(app, scopes));

    public static HttpClient With(NewsletterApp app, string token)
    {
        var client = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<JsonElement> GetJsonAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url, Ct);
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        return await JsonAsync(response);
    }

    public static async Task<(HttpResponseMessage Response, JsonElement Body)> PostJsonAsync(HttpClient client, string url, object? body)
    {
        var response = await client.PostAsJsonAsync(url, body, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Polls until <paramref name="done"/> says so; a deadline only bounds the wait, it asserts nothing about speed.</summary>
    public static async Task<JsonElement> PollAsync(HttpClient client, string url, Func<JsonElement, bool> done, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            var body = await GetJsonAsync(client, url);
            if (done(body))
            {
                return body;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{url} never got there: {body}");
            }

            await Task.Delay(200, Ct);
        }
    }
}
