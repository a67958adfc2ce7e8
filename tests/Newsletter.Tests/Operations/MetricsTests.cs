using System.Net;
using System.Net.Http.Headers;
using Newsletter.Testing;

namespace Newsletter.Tests.Operations;

public class MetricsTests
{
    private const string Token = "a-long-random-metrics-token-for-tests";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PrometheusWithTheTokenGetsHttpRuntimeAndSendingMetricsAndNobodyElseGetsIn()
    {
        using var app = new NewsletterApp(new() { ["Metrics:Token"] = Token });
        var anonymous = app.CreateBrowserClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live", Ct)).StatusCode); // one request for the HTTP histogram

        // No token, a wrong one, or an author's session: a 401 that names the scheme, never the login page.
        var refused = await anonymous.GetAsync("/metrics", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Null(refused.Headers.Location);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(app.CreateClient(), "not-" + Token)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(app.CreateClient(), Token[..^1])).StatusCode);
        await Forms.SetUpOwnerAsync(anonymous);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/admin", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics", Ct)).StatusCode);

        var scraped = await GetAsync(app.CreateClient(), Token);
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.Equal("text/plain", scraped.Content.Headers.ContentType?.MediaType);
        var metrics = await scraped.Content.ReadAsStringAsync(Ct);
        Assert.Matches(@"(?m)^http_server_request_duration_seconds_count\{.*http_route=""/health/live"".*\} [1-9]", metrics);
        Assert.Matches(@"(?m)^dotnet_gc_heap_total_allocated_bytes_total\S* [1-9]", metrics);
        Assert.Matches(@"(?m)^newsletter_relay_failing_seconds\S* 0", metrics);
        Assert.Matches(@"(?m)^newsletter_sending_rate\S* [\d.]+", metrics);
    }

    [Fact]
    public async Task AnApiTokenWithTheMetricsScopeScrapesAndOtherScopesDoNot()
    {
        using var app = new NewsletterApp();
        var metricsToken = await Api.ApiClients.TokenAsync(app, Newsletter.Web.Api.ApiScopes.Metrics);
        var everythingElse = await Api.ApiClients.TokenAsync(app, Newsletter.Web.Api.ApiScopes.Read | Newsletter.Web.Api.ApiScopes.Write | Newsletter.Web.Api.ApiScopes.Send);

        var scraped = await GetAsync(app.CreateClient(), metricsToken);
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.Contains("newsletter_relay_failing_seconds", await scraped.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(app.CreateClient(), everythingElse)).StatusCode);
    }

    [Fact]
    public async Task WithoutATokenConfiguredTheMainPortServesNoMetricsToAnyone()
    {
        using var app = new NewsletterApp();
        Assert.Equal(HttpStatusCode.Unauthorized, (await app.CreateClient().GetAsync("/metrics", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(app.CreateClient(), "")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(app.CreateClient(), "anything")).StatusCode);
    }

    [Fact]
    public async Task AMetricsPortServesMetricsAndNothingElseAndTheMainPortHasNone()
    {
        var metricsPort = AppProcess.FreePort();
        await using var node = new AppProcess(new()
        {
            ["Metrics__Port"] = metricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Metrics__Address"] = "127.0.0.1",
            ["Metrics__Token"] = Token,
        }, sampleNotes: false);
        await node.StartAsync(TimeSpan.FromMinutes(3));
        using var http = new HttpClient();
        var onMetricsPort = $"http://127.0.0.1:{metricsPort}";

        // No credentials on its own port: the network is its protection.
        var scraped = await http.GetAsync(onMetricsPort + "/metrics", Ct);
        Assert.True(scraped.StatusCode == HttpStatusCode.OK, node.Log);
        Assert.Contains("http_server_request_duration_seconds", await scraped.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // The site itself is not on that port, and metrics are on no other, not even with the token.
        foreach (var path in new[] { "/", "/admin", "/admin/setup", "/health/ready", "/notes" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(onMetricsPort + path, Ct)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(node.BaseUrl + "/metrics", Ct)).StatusCode);
        using var withToken = new HttpRequestMessage(HttpMethod.Get, node.BaseUrl + "/metrics");
        withToken.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(withToken, Ct)).StatusCode);

        // The port is read from the connection, not from a Host header the client chooses.
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, node.BaseUrl + "/metrics");
        spoofed.Headers.Host = $"127.0.0.1:{metricsPort}";
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(spoofed, Ct)).StatusCode);

        // And the main port still serves the site on the URL it was started with.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(node.BaseUrl + "/health/live", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(node.BaseUrl + "/", Ct)).StatusCode);
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        return await client.SendAsync(request, Ct);
    }
}
