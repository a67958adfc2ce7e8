using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;

namespace Newsletter.Tests.Operations;

public class HealthTests
{
    private static readonly string[] ReadyChecks = ["database", "database-write", "jobs", "job-servers", "send-node", "templates", "disk", "mail-relay"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ReadyNamesEveryCheckAndAFreshNodeIsHealthyOnAllThreePaths()
    {
        using var app = new NewsletterApp();
        var client = app.CreateClient();

        var (status, ready) = await GetAsync(client, "/health/ready");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Healthy", ready.GetProperty("status").GetString());
        Assert.Equal(ReadyChecks, Checks(ready).Select(c => c.Name));
        Assert.All(Checks(ready), c => Assert.True(c.Status == "Healthy", $"{c.Name}: {c.Status} {c.Description}"));

        var (liveStatus, live) = await GetAsync(client, "/health/live");
        Assert.Equal(HttpStatusCode.OK, liveStatus);
        Assert.Empty(Checks(live));

        // The old path is ready under its old name: the same checks, the same answer.
        var (legacyStatus, legacy) = await GetAsync(client, "/healthz");
        Assert.Equal(HttpStatusCode.OK, legacyStatus);
        Assert.Equal(ReadyChecks, Checks(legacy).Select(c => c.Name));
    }

    [Fact]
    public async Task ADatabaseThatCannotBeReadMakesReadyUnhealthyWhileLiveStillAnswersAndNothingLeaks()
    {
        using var app = new NewsletterApp();
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(client, "/health/ready")).Status);

        // A schema the node can no longer read: ready says which check and why in general, not the database's words.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.ExecuteSqlRawAsync("ALTER TABLE \"ContentVersions\" RENAME TO \"ContentVersionsGone\"", Ct);
        }

        foreach (var path in new[] { "/health/ready", "/healthz" })
        {
            var response = await client.GetAsync(path, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            using var body = JsonDocument.Parse(text);
            Assert.Equal("Unhealthy", body.RootElement.GetProperty("status").GetString());
            var database = Checks(body.RootElement).Single(c => c.Name == "database");
            Assert.Equal("Unhealthy", database.Status);
            Assert.StartsWith("The database cannot be read (", database.Description, StringComparison.Ordinal);
            Assert.DoesNotContain("ContentVersions", text, StringComparison.Ordinal);
            Assert.DoesNotContain(app.Root, text, StringComparison.Ordinal);
            Assert.DoesNotContain("Password", text, StringComparison.OrdinalIgnoreCase);
        }

        // The process itself is fine: an orchestrator must not restart it over the database.
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(client, "/health/live")).Status);
        // The reason is for the log, where the operator reads it.
        Assert.Contains("Health check database", app.ServerLog.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWriteLockHeldByAnotherProcessIsDegradedWhilePagesServeAndClearsWhenReleased()
    {
        using var app = new NewsletterApp();
        var client = app.CreateClient();
        Assert.Equal("Healthy", Checks((await GetAsync(client, "/health/ready")).Body).Single(c => c.Name == "database-write").Status);

        // A sqlite3 shell left inside a write transaction: reads go on, every write would wait and fail.
        await using (await WriteLock.TakeAsync(app, "Subscribers"))
        {
            var (status, body) = await GetAsync(client, "/health/ready");
            var check = Checks(body).Single(c => c.Name == "database-write");
            if (app.PostgresConnectionString is null)
            {
                Assert.Equal(HttpStatusCode.OK, status);
                Assert.Equal("Degraded", body.GetProperty("status").GetString());
                Assert.Equal("Degraded", check.Status);
                Assert.Contains("held the database's write lock", check.Description, StringComparison.Ordinal);
                Assert.DoesNotContain(app.Root, check.Description, StringComparison.Ordinal);
            }
            else
            {
                // PostgreSQL has no file lock: a table lock holds back only that table's writers.
                Assert.Equal("Healthy", check.Status);
            }

            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/archive", Ct)).StatusCode);
        }

        Assert.Equal("Healthy", Checks((await GetAsync(client, "/health/ready")).Body).Single(c => c.Name == "database-write").Status);
    }

    [Fact]
    public async Task ABrokenTemplateIsDegradedAndNamesTheFileButNotTheFolder()
    {
        var templates = RepoPaths.TempDir("templates");
        foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "templates", "email")))
        {
            File.Copy(file, Path.Combine(templates, Path.GetFileName(file)));
        }

        using var app = new NewsletterApp(new() { ["Mail:TemplatesFolder"] = templates });
        var client = app.CreateClient();
        Assert.Equal("Healthy", (await GetAsync(client, "/health/ready")).Body.GetProperty("status").GetString());

        // An author's edit on the running site breaks one file: mail would fail, pages still work.
        File.WriteAllText(Path.Combine(templates, "confirm.html.liquid"), "<p>{% if %}</p>\n");
        File.SetLastWriteTimeUtc(Path.Combine(templates, "confirm.html.liquid"), DateTime.UtcNow.AddMinutes(1));
        var (status, body) = await GetAsync(client, "/health/ready");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", body.GetProperty("status").GetString());
        var check = Checks(body).Single(c => c.Name == "templates");
        Assert.Equal("Degraded", check.Status);
        Assert.Contains("confirm.html.liquid", check.Description, StringComparison.Ordinal);
        Assert.DoesNotContain(templates, check.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1000000000", "0", HttpStatusCode.ServiceUnavailable, "Unhealthy", "Health:DiskMinimumMegabytes")]
    [InlineData("0", "1000000000", HttpStatusCode.OK, "Degraded", "Health:DiskWarningMegabytes")]
    public async Task LittleDiskSpaceInTheDataFolderIsSaidWithTheSettingThatDrawsTheLine(string minimum, string warning, HttpStatusCode expected, string status, string setting)
    {
        using var app = new NewsletterApp(new() { ["Health:DiskMinimumMegabytes"] = minimum, ["Health:DiskWarningMegabytes"] = warning });
        var (code, body) = await GetAsync(app.CreateClient(), "/health/ready");
        Assert.Equal(expected, code);
        var disk = Checks(body).Single(c => c.Name == "disk");
        Assert.Equal(status, disk.Status);
        Assert.Contains(setting, disk.Description, StringComparison.Ordinal);
        Assert.Contains("MB free in the data folder", disk.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFailingRelayIsDegradedWithoutItsReplyAndProbesNeverConnectToIt()
    {
        // The configured relay is a socket that counts who knocks: a probe that connected would show here.
        using var relay = new TcpListener(IPAddress.Loopback, 0);
        relay.Start();
        var port = ((IPEndPoint)relay.LocalEndpoint).Port;
        using var app = new NewsletterApp(new()
        {
            ["Mail:Transport"] = "Smtp",
            ["Mail:Smtp:Host"] = "127.0.0.1",
            ["Mail:Smtp:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var client = app.CreateClient();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("Healthy", Checks((await GetAsync(client, "/health/ready")).Body).Single(c => c.Name == "mail-relay").Status);
        }

        // What a send worker records when the relay fails, written by the node's heartbeat for every node to read.
        var node = app.Services.GetRequiredService<SendNode>();
        node.RelayFailed(DateTimeOffset.UtcNow.AddSeconds(-42), "554 5.7.1 relay.internal.example refuses 10.1.2.3");
        app.Services.GetServices<IHostedService>().OfType<SendNodeHeartbeat>().Single().Beat();

        var (status, body) = await GetAsync(client, "/health/ready");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", body.GetProperty("status").GetString());
        var check = Checks(body).Single(c => c.Name == "mail-relay");
        Assert.Equal("Degraded", check.Status);
        Assert.Contains("has not accepted mail since", check.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("relay.internal.example", body.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("10.1.2.3", body.ToString(), StringComparison.Ordinal);
        Assert.False(relay.Pending(), "a health probe opened a connection to the SMTP relay");
    }

    [Fact]
    public async Task AWebOnlyNodeIsReadyWhileAnotherNodeRunsTheJobsAndDegradedWhenNoneDoes()
    {
        using var worker = new NewsletterApp();
        var workerClient = worker.CreateClient();
        // Hangfire's server announces itself on a thread of its own, shortly after the host starts.
        for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(100, Ct))
        {
            var own = Checks((await GetAsync(workerClient, "/health/ready")).Body).Single(c => c.Name == "job-servers");
            if (own.Description?.StartsWith("This node's job server beat", StringComparison.Ordinal) == true || DateTime.UtcNow > deadline)
            {
                break;
            }
        }

        using var web = new NewsletterApp(worker.SecondNode(new() { ["Jobs:Server"] = "false" }));
        var (status, body) = await GetAsync(web.CreateClient(), "/health/ready");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Healthy", Checks(body).Single(c => c.Name == "job-servers").Status);
        Assert.Contains("this node runs none", Checks(body).Single(c => c.Name == "job-servers").Description, StringComparison.Ordinal);
        Assert.Contains("does not send", Checks(body).Single(c => c.Name == "send-node").Description, StringComparison.Ordinal);

        using var alone = new NewsletterApp(new() { ["Jobs:Server"] = "false" });
        var (aloneStatus, aloneBody) = await GetAsync(alone.CreateClient(), "/health/ready");
        Assert.Equal(HttpStatusCode.OK, aloneStatus);
        var servers = Checks(aloneBody).Single(c => c.Name == "job-servers");
        Assert.Equal("Degraded", servers.Status);
        Assert.StartsWith("No job server has beaten", servers.Description, StringComparison.Ordinal);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path, Ct);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return (response.StatusCode, document.RootElement.Clone());
    }

    private static List<(string Name, string Status, string? Description)> Checks(JsonElement body) =>
        [.. body.GetProperty("checks").EnumerateArray().Select(c => (
            c.GetProperty("name").GetString()!,
            c.GetProperty("status").GetString()!,
            c.TryGetProperty("description", out var d) ? d.GetString() : null))];
}
