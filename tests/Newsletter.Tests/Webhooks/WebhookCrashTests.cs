using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Webhooks;

namespace Newsletter.Tests.Webhooks;

public sealed class WebhookCrashTests
{
    private const int Events = 200;

    [Fact]
    public async Task KillingTheAppMidBatchLosesNoEventAndEveryRepeatCarriesTheSameIdAndBody()
    {
        var ct = TestContext.Current.CancellationToken;
        var provider = TestDatabases.Default;
        var root = RepoPaths.TempDir("webhookcrash");
        var dataFolder = Path.Combine(root, "data");
        Directory.CreateDirectory(dataFolder);
        Directory.CreateDirectory(Path.Combine(root, "notes"));
        var postgres = provider == DatabaseProvider.PostgreSql ? TestDatabases.CreateMigratedPostgres() : null;
        AppDbContext Open()
        {
            var options = new DbContextOptionsBuilder<AppDbContext>();
            options.UseDatabase(provider, postgres ?? new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataFolder, "newsletter.db"), Pooling = false }.ToString());
            return new AppDbContext(options.Options);
        }

        // The 60th call stalls until the process is dead, so the kill always lands with a delivery in flight.
        var stall = new TaskCompletionSource();
        using var receiver = new WebhookReceiver { Respond = async n => { if (n == 60) { await stall.Task; } return 200; } };
        await using (var db = Open())
        {
            await db.Database.MigrateAsync(ct);
            db.WebhookEndpoints.Add(new WebhookEndpoint { Url = receiver.Url, Events = "*", Secret = WebhookSigner.NewSecret(), CreatedAt = DateTime.UtcNow });
            await db.SaveChangesAsync(ct);
            var readers = Enumerable.Range(0, Events).Select(i => new Subscriber { Email = $"r{i}@example.org", EmailKey = $"r{i}@example.org", Status = SubscriberStatus.Active, Source = "import", CreatedAt = DateTime.UtcNow }).ToList();
            db.Subscribers.AddRange(readers);
            await db.SaveChangesAsync(ct);
            db.SubscriberEvents.AddRange(readers.Select(r => new SubscriberEvent { SubscriberId = r.Id, Kind = SubscriberEventKind.Imported, Source = "import", At = DateTime.UtcNow }));
            await db.SaveChangesAsync(ct);
            Assert.Equal(Events, await db.WebhookDeliveries.CountAsync(ct));
        }

        var environment = new Dictionary<string, string>
        {
            ["Webhooks__AllowPrivateNetworks"] = "true",
            ["Webhooks__PollInterval"] = "00:00:00.100",
            ["Webhooks__Timeout"] = "00:00:02",
            ["Webhooks__LeaseDuration"] = "00:00:05",
            ["Webhooks__BatchSize"] = "50",
            ["Jobs__Sqlite__InvisibilityTimeout"] = "00:00:10",
            ["Jobs__Sqlite__DistributedLockLifetime"] = "00:00:05",
            ["Jobs__Sqlite__QueuePollInterval"] = "00:00:00.200",
            ["Database__Provider"] = provider.ToString(),
            ["Database__ConnectionString"] = postgres ?? "",
        };
        await using (var first = new AppProcess(environment, sampleNotes: false, root: root))
        {
            await first.StartAsync();
            await receiver.WaitForAsync(r => r.Count >= 60, diagnostics: () => first.Log);
            first.KillHard();
        }

        var atKill = receiver.Received.Count;
        stall.SetResult();
        Assert.True(atKill < Events, $"the kill came after every event was delivered ({atKill})");

        await using var second = new AppProcess(environment, sampleNotes: false, root: root);
        await second.StartAsync();
        List<WebhookDelivery> rows = [];
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            await using var db = Open();
            rows = await db.WebhookDeliveries.AsNoTracking().ToListAsync(ct);
            if (rows.All(d => d.Status == WebhookDeliveryStatus.Delivered))
            {
                break;
            }

            await Task.Delay(100, ct);
        }

        Assert.All(rows, d => Assert.Equal(WebhookDeliveryStatus.Delivered, d.Status));
        var received = receiver.Received;
        // Every event reached the receiver; a repeat is the same id with the same body, so a receiver dedupes it.
        Assert.Equal(rows.Select(d => d.WebhookId).Order(), received.Select(r => r.Id).Distinct().Order());
        Assert.All(received.GroupBy(r => r.Id), g => Assert.Single(g.Select(r => r.Body).Distinct()));
        var repeats = received.Count - received.Select(r => r.Id).Distinct().Count();
        Assert.True(repeats <= 50, $"{repeats} repeats: more than one claimed batch");
        TestContext.Current.TestOutputHelper?.WriteLine($"killed after {atKill} calls; {repeats} events delivered twice (same webhook-id), none lost");
    }
}
