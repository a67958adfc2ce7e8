using System.Security.Cryptography;
using System.Text;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>What an erase or a suppression leaves is a hash nobody can check a list of addresses against.</summary>
public class AddressHashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Sha256(string email) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(email)));

    [Fact]
    public async Task AnErasedAddressLeavesAKeyedHashThatAListOfAddressesCannotFindButThatStillKeepsItOut()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client, "owner@example.org", "correct horse battery staple");
        long id;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            (_, id) = await scope.ServiceProvider.GetRequiredService<ReaderLifecycle>().AddByAuthorAsync("erase.me@example.org", null, [], "test", "admin", Ct);
            await scope.ServiceProvider.GetRequiredService<ReaderLifecycle>().DeleteAsync(id, erase: true, Ct);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var hashes = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Suppressions.Select(s => s.EmailHash).ToListAsync(Ct);
            var stored = Assert.Single(hashes);
            Assert.NotEqual(Sha256("erase.me@example.org"), stored);
        }

        // Another installation hashes the same address differently: the key is this installation's own.
        using var other = new NewsletterApp();
        Assert.NotEqual(app.AddressHash("erase.me@example.org"), other.AddressHash("erase.me@example.org"));
        Assert.Equal(app.AddressHash("erase.me@example.org"), app.AddressHash(" Erase.Me@example.org "));

        // And the address stays out: subscribing again sends nothing.
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/subscribe", new { email = "erase.me@example.org" }, Ct)).StatusCode);
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.DoesNotContain(Outbox.Read(app.PickupFolder), m => m.To.ToString().Contains("erase.me", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PlainHashesAnOlderVersionWroteAreReKeyedAtStartAndStillMatch()
    {
        using var app = new NewsletterApp(provider: DatabaseProvider.Sqlite);
        Directory.CreateDirectory(app.DataFolder);
        var options = new DbContextOptionsBuilder<AppDbContext>();
        options.UseDatabase(DatabaseProvider.Sqlite, $"Data Source={Path.Combine(app.DataFolder, "newsletter.db")};Pooling=false");
        await using (var old = new AppDbContext(options.Options))
        {
            // The schema as the version before keyed hashes left it, with what that version wrote.
            var before = old.Database.GetMigrations().TakeWhile(m => !m.EndsWith("_KeyedAddressHashes", StringComparison.Ordinal)).Last();
            await old.GetService<IMigrator>().MigrateAsync(before, Ct);
            await old.Database.ExecuteSqlRawAsync(
                """INSERT INTO "Suppressions" ("EmailHash", "Reason", "CreatedAt") VALUES ({0}, 3, '2026-01-01 00:00:00'), ({1}, 1, '2026-01-01 00:00:00')""",
                [Sha256("erased.long.ago@example.org"), Sha256("bounced.long.ago@example.org")], Ct);
        }

        var client = app.CreateBrowserClient();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var rows = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Suppressions.AsNoTracking().ToListAsync(Ct);
            Assert.Equal(2, rows.Count);
            Assert.All(rows, r => Assert.False(r.LegacyHash));
            Assert.Equal(
                new[] { app.AddressHash("erased.long.ago@example.org"), app.AddressHash("bounced.long.ago@example.org") }.Order(),
                rows.Select(r => r.EmailHash).Order());
        }

        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/subscribe", new { email = "erased.long.ago@example.org" }, Ct)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/subscribe", new { email = "new.reader@example.org" }, Ct)).StatusCode);
        await app.WaitForMailAsync("new.reader@example.org");
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.DoesNotContain(Outbox.Read(app.PickupFolder), m => m.To.ToString().Contains("long.ago", StringComparison.Ordinal));
    }
}
