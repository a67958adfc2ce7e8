using System.Net;
using System.Security.Cryptography;
using Newsletter.Testing;

namespace Newsletter.Tests.Operations;

public class StartupWarningsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ASiteStillOnLocalhostWithoutDkimOrBounceDomainSaysWhatToFixOnceInTheLogAndOnTheDashboard()
    {
        using var app = new NewsletterApp(new()
        {
            ["Site:BaseUrl"] = "http://localhost:5000",
            ["Mail:Transport"] = "Smtp",
            ["Mail:Smtp:Host"] = "127.0.0.1",
            ["Mail:Smtp:Port"] = AppProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var dashboard = WebUtility.HtmlDecode(await client.GetStringAsync("/admin", Ct));

        var warnings = Warnings(app);
        Assert.Equal(3, warnings.Count);
        Assert.Single(warnings, w => w.Contains("Site:BaseUrl is http://localhost:5000", StringComparison.Ordinal) && w.Contains("https://", StringComparison.Ordinal));
        Assert.Single(warnings, w => w.Contains("DKIM signing is off", StringComparison.Ordinal) && w.Contains("Mail:Dkim:Enabled", StringComparison.Ordinal));
        Assert.Single(warnings, w => w.Contains("Sending:BounceDomain is not set", StringComparison.Ordinal));

        Assert.Contains("Settings to fix", dashboard, StringComparison.Ordinal);
        Assert.Contains("Site:BaseUrl is http://localhost:5000", dashboard, StringComparison.Ordinal);
        Assert.Contains("DKIM signing is off", dashboard, StringComparison.Ordinal);
        Assert.Contains("Sending:BounceDomain is not set", dashboard, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APublicAddressOverPlainHttpSaysOneClickUnsubscribeNeedsHttps()
    {
        using var app = new NewsletterApp(new() { ["Site:BaseUrl"] = "http://news.example.org" });
        await app.CreateClient().GetAsync("/health/live", Ct);

        var warning = Assert.Single(Warnings(app));
        Assert.Contains("Site:BaseUrl is http://news.example.org, not https", warning, StringComparison.Ordinal);
        Assert.Contains("one-click unsubscribe", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePickupFolderInProductionIsAWarning()
    {
        using var app = new NewsletterApp(new() { ["environment"] = "Production", ["Site:BaseUrl"] = "https://news.example.org" });
        await app.CreateClient().GetAsync("/health/live", Ct);

        var warning = Assert.Single(Warnings(app));
        Assert.Contains("Mail:Transport is Pickup in Production", warning, StringComparison.Ordinal);
        Assert.Contains("never sent", warning, StringComparison.Ordinal);
    }

    /// <summary>
    /// The README's first command: Production (no launch settings), localhost, the pickup folder on purpose. It hears
    /// that links point at this machine, not that its mail is never sent, which is what it asked for.
    /// </summary>
    [Fact]
    public async Task TryingItOnLocalhostIsNotWarnedAboutThePickupFolder()
    {
        using var app = new NewsletterApp(new() { ["environment"] = "Production", ["Site:BaseUrl"] = "http://localhost:5000" });
        await app.CreateClient().GetAsync("/health/live", Ct);

        var warning = Assert.Single(Warnings(app));
        Assert.Contains("Site:BaseUrl is http://localhost:5000", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALiveSiteOverHttpsWithDkimAndABounceDomainHasNothingToFix()
    {
        var key = Path.Combine(RepoPaths.TempDir("dkim"), "dkim.pem");
        using (var rsa = RSA.Create(2048))
        {
            File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        }

        using var app = new NewsletterApp(new()
        {
            ["environment"] = "Production",
            ["Site:BaseUrl"] = "https://news.example.org",
            ["Mail:Transport"] = "Smtp",
            ["Mail:Smtp:Host"] = "127.0.0.1",
            ["Mail:Smtp:Port"] = AppProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mail:Dkim:Enabled"] = "true",
            ["Mail:Dkim:Domain"] = "news.example.org",
            ["Mail:Dkim:Selector"] = "s1",
            ["Mail:Dkim:PrivateKeyPath"] = key,
            ["Sending:BounceDomain"] = "bounces.news.example.org",
        });
        // Over https, as the site is: its session cookie is Secure.
        var client = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { BaseAddress = new Uri("https://localhost"), AllowAutoRedirect = false });
        await Forms.SetUpOwnerAsync(client);

        Assert.Empty(Warnings(app));
        Assert.DoesNotContain("Settings to fix", await client.GetStringAsync("/admin", Ct), StringComparison.Ordinal);
    }

    private static List<string> Warnings(NewsletterApp app) =>
        [.. app.ServerLog.Entries.Where(e => e.StartsWith("Warning", StringComparison.Ordinal) && e.Contains("Configuration: ", StringComparison.Ordinal))];
}
