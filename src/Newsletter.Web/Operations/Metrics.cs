using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using OpenTelemetry.Metrics;

namespace Newsletter.Web.Operations;

/// <summary>
/// /metrics for Prometheus: HTTP and .NET runtime metrics (OpenTelemetry instrumentation) beside each feature's
/// own meters (Sending adds its counters). Two ways in, both for machines, never a browser session:
/// <list type="bullet">
/// <item><c>Metrics:Port</c>: served on that port only, without credentials, for a scraper on a private network;
/// that port answers nothing else, and the main port has no /metrics.</item>
/// <item>Otherwise on the main port to a bearer token, under the <see cref="Policy"/> policy: <c>Metrics:Token</c>
/// is one such token. Without one configured, every scrape is refused.</item>
/// </list>
/// </summary>
public static class MetricsExtensions
{
    /// <summary>Who may scrape: any authentication scheme listed in it whose principal carries <see cref="ScopeClaim"/> = <see cref="Scope"/>.</summary>
    public const string Policy = "Metrics";

    public const string ScopeClaim = "scope";

    public const string Scope = "metrics";

    public const string Path = "/metrics";

    public static WebApplicationBuilder AddMetrics(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection("Metrics").Get<MetricsOptions>() ?? new MetricsOptions();
        builder.Services.Configure<MetricsOptions>(builder.Configuration.GetSection("Metrics"));
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());

        // A scheme of its own, so a session cookie never counts here and a scraper never meets the login page.
        // API tokens made with the metrics scope are let in too (their principal carries the claim); other scopes are not.
        builder.Services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, MetricsTokenHandler>(MetricsTokenHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder().AddPolicy(Policy, p => p
            .AddAuthenticationSchemes(MetricsTokenHandler.SchemeName, Api.ApiTokenAuthentication.SchemeName)
            .RequireClaim(ScopeClaim, Scope));

        if (options.Port is { } port)
        {
            if (port is < 1 or > 65535)
            {
                throw new SettingsException($"Metrics:Port {port} is not a TCP port (1-65535).");
            }

            AddListener(builder, options.Address, port);
            builder.Services.AddSingleton<IStartupFilter>(new MetricsPortGate(port));
        }

        return builder;
    }

    public static WebApplication MapMetrics(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value.Port is null)
        {
            app.MapPrometheusScrapingEndpoint(Path).RequireAuthorization(Policy);
        }

        return app;
    }

    /// <summary>
    /// Adds the metrics address to the ones the app listens on. Kestrel drops every configured URL once an
    /// endpoint is added in code, so the URLs the host would have used (--urls, ASPNETCORE_URLS, then
    /// ASPNETCORE_HTTP_PORTS and _HTTPS_PORTS, then its default) are carried over with the new one.
    /// </summary>
    private static void AddListener(WebApplicationBuilder builder, string address, int port)
    {
        var configuration = builder.Configuration;
        var urls = configuration["urls"];
        if (string.IsNullOrWhiteSpace(urls))
        {
            static IEnumerable<string> Ports(string? list, string scheme) =>
                (list ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"{scheme}://*:{p}");
            urls = string.Join(';', Ports(configuration["http_ports"], "http").Concat(Ports(configuration["https_ports"], "https")));
            // Carried over into the URLs: left set, the host would warn on every start that URLs override them.
            builder.WebHost.UseSetting("http_ports", "");
            builder.WebHost.UseSetting("https_ports", "");
        }

        if (string.IsNullOrWhiteSpace(urls))
        {
            urls = "http://localhost:5000";
        }

        var host = address is "" or "*" ? "*" : address.Contains(':', StringComparison.Ordinal) ? $"[{address}]" : address;
        builder.WebHost.UseUrls($"{urls};http://{host}:{port}");
    }

    /// <summary>
    /// On the metrics port, /metrics and nothing else: the site itself (admin, forms, trusted-proxy headers)
    /// must not be reachable through a port that skips the proxy. Runs before the app's own middleware, and
    /// reads the port the connection arrived on, never the Host header a client chooses.
    /// </summary>
    private sealed class MetricsPortGate(int port) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.MapWhen(c => c.Connection.LocalPort == port, metrics =>
            {
                metrics.UseOpenTelemetryPrometheusScrapingEndpoint(Path);
                metrics.Run(c =>
                {
                    c.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                });
            });
            next(app);
        };
    }
}

/// <summary>The "Metrics" section of appsettings.json.</summary>
public sealed class MetricsOptions
{
    /// <summary>When set, /metrics is served on this port only, to anyone who can reach it.</summary>
    public int? Port { get; set; }

    /// <summary>The address the metrics port listens on: every interface unless set (e.g. 127.0.0.1).</summary>
    public string Address { get; set; } = "*";

    /// <summary>A bearer token that may read /metrics on the main port. A secret: keep it out of the repository.</summary>
    public string Token { get; set; } = "";
}

/// <summary>
/// <c>Authorization: Bearer {Metrics:Token}</c>, compared in constant time (as SHA-256 digests, so not even the
/// length leaks). Any other bearer token is left to other schemes: this one neither accepts nor rejects it.
/// </summary>
internal sealed class MetricsTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IOptionsMonitor<MetricsOptions> metrics)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "MetricsToken";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = metrics.CurrentValue.Token;
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(token) || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        if (!CryptographicOperations.FixedTimeEquals(given, expected))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identity = new ClaimsIdentity([new Claim(MetricsExtensions.ScopeClaim, MetricsExtensions.Scope)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    /// <summary>
    /// A bare 401 with the scheme to use, not the site's HTML error page. No body: another scheme of the policy
    /// (API tokens) may add its own challenge headers after this one.
    /// </summary>
    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.Append(Microsoft.Net.Http.Headers.HeaderNames.WWWAuthenticate, "Bearer realm=\"metrics\"");
        if (Context.Features.Get<IStatusCodePagesFeature>() is { } pages)
        {
            pages.Enabled = false;
        }

        return Task.CompletedTask;
    }
}
