using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;

namespace Newsletter.Tests.Admin;

/// <summary>Clients for the security tests: one whose cookies can be copied, and clients at chosen IP addresses.</summary>
internal static class AuthorTestClients
{
    public const string Password = "correct horse battery staple";

    public static Task<HttpResponseMessage> SignInAsync(HttpClient client, string email, string password) =>
        Forms.PostAsync(client, "/admin/login", new Dictionary<string, string> { ["Input.Email"] = email, ["Input.Password"] = password });

    /// <summary>A browser whose cookie jar the test can read, to copy a session as a thief would.</summary>
    public static HttpClient Browser(WebApplicationFactory<Program> app, CookieContainer cookies) =>
        app.CreateDefaultClient(new CookieContainerHandler(cookies));

    /// <summary>The app with every request arriving from loopback, as from nginx on the same host, so X-Forwarded-For names the client.</summary>
    public static WebApplicationFactory<Program> BehindLocalProxy(NewsletterApp app) =>
        app.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<IStartupFilter, FromLoopback>()));

    /// <summary>A browser at <paramref name="ip"/> behind the local proxy.</summary>
    public static HttpClient BrowserAt(WebApplicationFactory<Program> proxied, string ip)
    {
        var client = proxied.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        client.DefaultRequestHeaders.Add("X-Forwarded-For", ip);
        return client;
    }

    /// <summary>Invites a co-author, accepts the invitation from the outbox and returns their signed-in client.</summary>
    public static async Task<HttpClient> CoAuthorAsync(NewsletterApp app, HttpClient owner, string email = "ada@example.org", string role = "Editor")
    {
        await Forms.PostAsync(owner, "/admin/users", new Dictionary<string, string> { ["name"] = "Ada", ["email"] = email, ["role"] = role });
        var mail = await app.WaitForMailAsync(email);
        var link = Outbox.PathOf(Outbox.Link(mail, "/admin/reset-password"));
        var coAuthor = app.CreateBrowserClient();
        await Forms.PostAsync(coAuthor, link, new Dictionary<string, string> { ["Password"] = "ada's own long passphrase" });
        var signedIn = await SignInAsync(coAuthor, email, "ada's own long passphrase");
        return signedIn.StatusCode == HttpStatusCode.Redirect ? coAuthor : throw new InvalidOperationException("The co-author could not sign in.");
    }

    private sealed class FromLoopback : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                context.Connection.RemoteIpAddress = IPAddress.Loopback;
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
