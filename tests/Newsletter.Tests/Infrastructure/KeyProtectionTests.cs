using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;

namespace Newsletter.Tests.Infrastructure;

/// <summary>With <c>DataProtection:CertificatePath</c>, the key ring at rest is encrypted: a copy of it without the certificate opens nothing.</summary>
public class KeyProtectionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WithACertificateTheKeyRingIsStoredEncryptedAndSessionsStillCarryAcrossNodes()
    {
        var folder = RepoPaths.TempDir("cert");
        var pfx = Path.Combine(folder, "keys.pfx");
        using (var rsa = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=newsletter data protection", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "pfx password"), Ct);
        }

        var settings = new Dictionary<string, string?> { ["DataProtection:CertificatePath"] = pfx, ["DataProtection:CertificatePassword"] = "pfx password" };
        using var nodeA = new NewsletterApp(settings);
        var cookies = new CookieContainer();
        var owner = nodeA.CreateDefaultClient(new Microsoft.AspNetCore.Mvc.Testing.Handlers.CookieContainerHandler(cookies));
        await Forms.SetUpOwnerAsync(owner);

        var ring = await KeyRingAsync(nodeA);
        Assert.Contains("EncryptedKey", ring, StringComparison.Ordinal);
        Assert.DoesNotContain("<value>", ring, StringComparison.Ordinal); // the plain master key element

        // Another node with the certificate reads the ring: the owner's cookie opens the admin there.
        using var nodeB = new NewsletterApp(nodeA.SecondNode(settings));
        var onB = nodeB.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        using var get = new HttpRequestMessage(HttpMethod.Get, "/admin");
        get.Headers.Add("Cookie", "newsletter.auth=" + cookies.GetCookies(new Uri("http://localhost"))["newsletter.auth"]!.Value);
        Assert.Equal(HttpStatusCode.OK, (await onB.SendAsync(get, Ct)).StatusCode);
    }

    [Fact]
    public void AMissingCertificateStopsTheAppWithTheSettingsName()
    {
        using var app = new NewsletterApp(new() { ["DataProtection:CertificatePath"] = "/nonexistent/keys.pfx" });
        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        Assert.Contains("DataProtection:CertificatePath", error.ToString(), StringComparison.Ordinal);
    }

    private static async Task<string> KeyRingAsync(NewsletterApp app)
    {
        if (app.PostgresConnectionString is null)
        {
            return string.Concat(Directory.GetFiles(Path.Combine(app.DataFolder, "keys"), "*.xml").Select(File.ReadAllText));
        }

        await using var scope = app.Services.CreateAsyncScope();
        return string.Concat(await scope.ServiceProvider.GetRequiredService<AppDbContext>().DataProtectionKeys.Select(k => k.Xml).ToListAsync(Ct));
    }
}
