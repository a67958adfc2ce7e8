using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Newsletter.Testing;

namespace Newsletter.Tests.Site;

public class HardeningTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AFormFieldNamedCodeDoesNotChooseTheStatusOfTheErrorPage()
    {
        using var app = new NewsletterApp();
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        // No antiforgery token: a 400, shown by re-executing the error page with this request's form.
        var response = await client.PostAsync("/admin/forgot-password", new FormUrlEncodedContent(new Dictionary<string, string> { ["code"] = "914823", ["Email"] = "a@example.org" }), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public void KestrelSendsNoServerHeader()
    {
        using var app = new NewsletterApp();
        Assert.False(app.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.AddServerHeader);
    }

    [Fact]
    public async Task HstsIsSentOverHttpsOnly()
    {
        using var app = new NewsletterApp();
        var https = app.CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri("https://localhost"), AllowAutoRedirect = false });
        var http = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        Assert.Equal("max-age=31536000", string.Join(",", (await https.GetAsync("/", Ct)).Headers.GetValues("Strict-Transport-Security")));
        Assert.False((await http.GetAsync("/", Ct)).Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task HstsIsSentWhenTheTrustedProxySaysHttps()
    {
        using var app = new NewsletterApp();
        using var proxied = Admin.AuthorTestClients.BehindLocalProxy(app);
        var client = proxied.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("X-Forwarded-For", "203.0.113.1");
        request.Headers.Add("X-Forwarded-Proto", "https");

        Assert.True((await client.SendAsync(request, Ct)).Headers.Contains("Strict-Transport-Security"));
    }

    [Theory]
    [InlineData("/admin/subscribers")]
    [InlineData("/admin/subscribers/export.csv")]
    [InlineData("/admin/issues")]
    public async Task AdminListsAndExportsAreNeverStored(string path)
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);

        var response = await owner.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.CacheControl?.NoStore, $"{path}: Cache-Control {response.Headers.CacheControl}");
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task DataKeyAndOutboxFilesAreTheServiceUsersAlone()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "Unix file modes");
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);
        await Forms.PostAsync(app.CreateBrowserClient(), "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = "owner@example.org" });
        await app.WaitForMailAsync("owner@example.org");
        await app.CreateClient().PostAsync("/subscribe", System.Net.Http.Json.JsonContent.Create(new { email = "reader@example.org" }), Ct);
        await app.WaitForMailAsync("reader@example.org");

        var files = Directory.GetFiles(app.DataFolder, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith(".eml", StringComparison.Ordinal));
        Assert.All(files, f => Assert.True(File.GetUnixFileMode(f) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), $"{f}: {File.GetUnixFileMode(f)}"));
        Assert.All(Directory.GetDirectories(app.DataFolder, "*", SearchOption.AllDirectories).Append(app.DataFolder),
            d => Assert.True(File.GetUnixFileMode(d) == (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute), $"{d}: {File.GetUnixFileMode(d)}"));
    }
}
