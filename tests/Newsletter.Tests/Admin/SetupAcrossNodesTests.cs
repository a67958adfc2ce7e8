using System.Net;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;

namespace Newsletter.Tests.Admin;

/// <summary>First-run setup on two app instances that share one database, as two nodes would.</summary>
public class SetupAcrossNodesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoNodesPostingSetupAtOnceMakeOneOwnerAndTellTheOtherToSignIn()
    {
        // Every other round stalls both posts on purpose: the test holds SQLite's write lock while they run,
        // so both find no account yet and wait at the insert, which is exactly the race one process's lock
        // could not see.
        for (var round = 0; round < 4; round++)
        {
            var stall = round % 2 == 1;
            using var nodeA = new NewsletterApp();
            var a = nodeA.CreateBrowserClient();
            var tokenA = await Forms.TokenAsync(a, "/admin/setup");
            using var nodeB = new NewsletterApp(nodeA.SecondNode());
            var b = nodeB.CreateBrowserClient();
            var tokenB = await Forms.TokenAsync(b, "/admin/setup");

            HttpResponseMessage[] responses;
            await using (var writeLock = stall ? await WriteLock.TakeAsync(nodeA.DataFolder) : null)
            {
                var posts = Task.WhenAll(PostSetupAsync(a, tokenA, "a@example.org"), PostSetupAsync(b, tokenB, "b@example.org"));
                if (writeLock is not null)
                {
                    // Long enough for both to read "no account yet" and reach the insert; far below the busy timeout.
                    await Task.Delay(TimeSpan.FromSeconds(1.5), Ct);
                    await writeLock.ReleaseAsync();
                }

                responses = await posts;
            }

            var codes = string.Join(", ", responses.Select(r => (int)r.StatusCode));
            Assert.True(responses.Count(r => r.StatusCode == HttpStatusCode.Redirect) == 1, $"round {round} (stall: {stall}): {codes}\n{nodeA.ServerLog}\n{nodeB.ServerLog}");
            var loser = Assert.Single(responses, r => r.StatusCode != HttpStatusCode.Redirect);
            Assert.Equal(HttpStatusCode.Conflict, loser.StatusCode);
            var page = await loser.Content.ReadAsStringAsync(Ct);
            Assert.Contains("Setup was already completed", page, StringComparison.Ordinal);
            Assert.Contains("href=\"/admin/login\"", page, StringComparison.Ordinal);
            Assert.DoesNotContain(loser.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : [], c => c.StartsWith("newsletter.auth=", StringComparison.Ordinal));

            await using var scope = nodeA.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.Equal(1, await db.Users.CountAsync(Ct));
            Assert.Equal(1, await db.Users.CountAsync(u => u.IsFounder, Ct));
        }
    }

    [Fact]
    public async Task ASetupPostAfterTheOwnerExistsOnAnotherNodeIsToldToSignIn()
    {
        using var nodeA = new NewsletterApp();
        using var nodeB = new NewsletterApp(nodeA.SecondNode());
        // Node B showed the form before node A's owner existed.
        var b = nodeB.CreateBrowserClient();
        var token = await Forms.TokenAsync(b, "/admin/setup");
        await Forms.SetUpOwnerAsync(nodeA.CreateBrowserClient(), "first@example.org");

        var late = await PostSetupAsync(b, token, "late@example.org");
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Contains("Setup was already completed", await late.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await nodeB.CreateClient().GetAsync("/admin/setup", Ct)).StatusCode);
    }

    private static Task<HttpResponseMessage> PostSetupAsync(HttpClient client, string token, string email) =>
        client.PostAsync("/admin/setup", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["Input.DisplayName"] = email,
            ["Input.Email"] = email,
            ["Input.Password"] = "correct horse battery staple",
        }), Ct);

    /// <summary>SQLite's write lock on the app's database, held by the test until released.</summary>
    private sealed class WriteLock : IAsyncDisposable
    {
        private readonly SqliteConnection _connection;
        private bool _released;

        private WriteLock(SqliteConnection connection) => _connection = connection;

        public static async Task<WriteLock> TakeAsync(string dataFolder)
        {
            var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataFolder, "newsletter.db"), Pooling = false }.ToString());
            await connection.OpenAsync(Ct);
            await using var begin = connection.CreateCommand();
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync(Ct);
            return new WriteLock(connection);
        }

        public async Task ReleaseAsync()
        {
            if (!_released)
            {
                _released = true;
                await using var rollback = _connection.CreateCommand();
                rollback.CommandText = "ROLLBACK";
                await rollback.ExecuteNonQueryAsync(Ct);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await ReleaseAsync();
            await _connection.DisposeAsync();
        }
    }
}
