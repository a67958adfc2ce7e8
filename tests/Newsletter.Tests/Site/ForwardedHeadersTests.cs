using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;

namespace Newsletter.Tests.Site;

/// <summary>X-Forwarded-* is believed from a configured proxy (an address or a network) and from nobody else.</summary>
public class ForwardedHeadersTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("172.28.0.10", true)]
    [InlineData("172.28.0.0/24", true)]
    [InlineData("10.0.0.0/8", false)]
    [InlineData("", false)]
    public async Task ForwardedHeadersCountOnlyFromATrustedProxy(string trustedProxies, bool believed)
    {
        using var app = new NewsletterApp(new() { ["Site:TrustedProxies"] = trustedProxies, ["Subscriptions:PerIpPerMinute"] = "1" });
        // Every request arrives from 172.28.0.10, as from nginx on a container network.
        using var proxied = app.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<IStartupFilter>(new From(IPAddress.Parse("172.28.0.10")))));
        var client = proxied.CreateClient();
        await RateWindows.FreshMinuteAsync(Ct);

        async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string forwardedFor)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
            request.Headers.Add("X-Forwarded-Proto", "https");
            return await client.SendAsync(request, Ct);
        }

        // Two readers behind the proxy: counted apart only when the proxy is believed.
        var first = await SendAsync(new HttpRequestMessage(HttpMethod.Post, "/subscribe") { Content = JsonContent.Create(new { email = "a@example.org" }) }, "203.0.113.1");
        var second = await SendAsync(new HttpRequestMessage(HttpMethod.Post, "/subscribe") { Content = JsonContent.Create(new { email = "b@example.org" }) }, "203.0.113.2");
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(believed ? HttpStatusCode.Accepted : HttpStatusCode.TooManyRequests, second.StatusCode);

        // The scheme the reader used: https from a believed proxy makes the form's cookie Secure.
        var login = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/admin/login"), "203.0.113.3");
        var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie"), c => c.StartsWith("newsletter.af=", StringComparison.Ordinal));
        Assert.Equal(believed, cookie.Contains("; secure", StringComparison.OrdinalIgnoreCase));
    }

    private sealed class From(IPAddress address) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, following) =>
            {
                context.Connection.RemoteIpAddress = address;
                return following(context);
            });
            next(app);
        };
    }
}
