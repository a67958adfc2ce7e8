using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text;
using Newsletter.Testing;
using static Newsletter.Tests.Api.ApiClients;


namespace Newsletter.Tests.Api;

/// <summary>What an operator's script does with one token: import readers, compose, preview, test, send, watch it finish.</summary>
public class ApiScriptTests
{
    [Fact]
    public async Task AScriptWithATokenImportsReadersComposesPreviewsTestsAndSendsAnIssueThatEachReaderGetsOnce()
    {
        await using var smtp = await SmtpServer.StartAsync();
        // A public https address: preflight warns about a localhost one.
        using var app = new NewsletterApp(Sending.SendingFixture.Settings(smtp, new() { ["Site:BaseUrl"] = "https://news.example.org" }));
        var api = await ClientAsync(app);

        // Import: a CSV body, active readers with the consent recorded.
        var csv = new StringBuilder("email,name,tags\n");
        for (var i = 0; i < 25; i++)
        {
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"reader{i:D4}@example.org,Reader {i},api\n");
        }

        csv.Append("not-an-address,Nobody,api\n");
        var upload = await api.PostAsync("/api/v1/imports?active=true&consent=signed%20up%20at%20the%20meetup&tags=cohort-1",
            new StringContent(csv.ToString(), Encoding.UTF8, "text/csv"), Ct);
        Assert.Equal(HttpStatusCode.Accepted, upload.StatusCode);
        var importUrl = upload.Headers.Location!.ToString();
        var import = await PollAsync(api, importUrl, b => b.GetProperty("done").GetBoolean());
        Assert.Equal("Completed", import.GetProperty("status").GetString());
        Assert.Equal(25, import.GetProperty("imported").GetInt32());
        Assert.Equal(1, import.GetProperty("invalid").GetInt32());
        await using (var scope = app.Services.CreateAsyncScope())
        {
            // Audited as the admin's upload is, under the token's author.
            var entry = await scope.ServiceProvider.GetRequiredService<Web.Data.AppDbContext>().AuditEntries.AsNoTracking()
                .SingleAsync(e => e.Action == Web.Audit.AuditActions.ReadersImport, Ct);
            Assert.Equal(import.GetProperty("id").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), entry.ObjectId);
            Assert.Contains("as active (consent: signed up at the meetup), through the API", entry.Detail, StringComparison.Ordinal);
            Assert.NotEqual("", entry.ActorId);
        }

        var errors = await api.GetStringAsync(importUrl + "/errors", Ct);
        Assert.Contains("not-an-address", errors, StringComparison.Ordinal);
        // A viewer's read token sees the import's counts but not its refused addresses, as on the admin page.
        var viewer = With(app, await TokenAsync(app, Web.Api.ApiScopes.Read, role: Web.Admin.AuthorRole.Viewer));
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync(importUrl, Ct)).StatusCode);
        var hidden = await viewer.GetAsync(importUrl + "/errors", Ct);
        Assert.Equal(HttpStatusCode.Forbidden, hidden.StatusCode);
        Assert.DoesNotContain("not-an-address", await hidden.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var active = await GetJsonAsync(api, "/api/v1/subscribers?status=active&tag=cohort-1&limit=200");
        Assert.Equal(25, active.GetProperty("items").GetArrayLength());

        // The imports list pages like every other list: a second import, then one a page, newest first.
        var second = await api.PostAsync("/api/v1/imports?active=true&consent=met%20at%20a%20talk&tags=cohort-2", new StringContent("email\nlate.reader@example.org\n", Encoding.UTF8, "text/csv"), Ct);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        var secondId = (await PollAsync(api, second.Headers.Location!.ToString(), b => b.GetProperty("done").GetBoolean())).GetProperty("id").GetInt32();
        var first = await GetJsonAsync(api, "/api/v1/imports?limit=1");
        Assert.Equal([secondId], first.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetInt32()));
        var older = await GetJsonAsync(api, "/api/v1/imports?limit=1&cursor=" + first.GetProperty("next").GetString());
        Assert.Equal([import.GetProperty("id").GetInt32()], older.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetInt32()));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, older.GetProperty("next").ValueKind);

        // Compose, then preview: the email as readers get it, with no preflight warnings.
        var (created, issue) = await PostJsonAsync(api, "/api/v1/issues", new
        {
            subject = "Ledgers, leases and the 40 ms stall",
            preheader = "What a crash can and cannot do to a send.",
            markdown = "Hello **readers**.\n\nA [link](https://example.org/a).",
            audienceTag = "cohort-1",
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = issue.GetProperty("id").GetInt32();
        Assert.Equal("Draft", issue.GetProperty("status").GetString());
        var preview = await GetJsonAsync(api, $"/api/v1/issues/{id}/preview");
        Assert.Equal("Ledgers, leases and the 40 ms stall", preview.GetProperty("subject").GetString());
        Assert.Contains("<strong>readers</strong>", preview.GetProperty("html").GetString(), StringComparison.Ordinal);
        Assert.Equal(25, preview.GetProperty("audienceCount").GetInt32());
        Assert.Equal(0, preview.GetProperty("warnings").GetArrayLength());

        // A test copy first, to the author only.
        var (tested, _) = await PostJsonAsync(api, $"/api/v1/issues/{id}/test", new { addresses = new[] { "author@example.org" } });
        Assert.Equal(HttpStatusCode.Accepted, tested.StatusCode);
        var test = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.EnvelopeTo == "author@example.org");
        Assert.StartsWith("[Test] ", test.Message.Subject, StringComparison.Ordinal);

        // Before the send, the draft's progress is not "done" in any field.
        var draft = await JsonAsync(await api.GetAsync($"/api/v1/issues/{id}/progress", Ct));
        Assert.False(draft.GetProperty("done").GetBoolean());
        Assert.NotEqual("done", draft.GetProperty("eta").GetString());

        // Send, twice at once, as a retrying script might: one starts it, the other hears it is already going.
        var sends = await Task.WhenAll(api.PostAsync($"/api/v1/issues/{id}/send", null, Ct), api.PostAsync($"/api/v1/issues/{id}/send", null, Ct));
        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.Conflict], sends.Select(s => s.StatusCode).Order());
        var conflict = await JsonAsync(sends.Single(s => s.StatusCode == HttpStatusCode.Conflict));
        Assert.Contains("already", conflict.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var progress = await PollAsync(api, $"/api/v1/issues/{id}/progress", b => b.GetProperty("done").GetBoolean());
        Assert.Equal("Sent", progress.GetProperty("status").GetString());
        Assert.Equal(25, progress.GetProperty("sent").GetInt32());
        Assert.Equal(100, progress.GetProperty("percent").GetInt32());
        // A 25-row ledger is read in milliseconds: a script may ask again in a second.
        Assert.Equal(1_000, progress.GetProperty("pollAfterMs").GetInt32());

        // The SMTP server got each reader exactly once (and the author's test copy).
        var received = smtp.Messages();
        var readers = received.Where(m => m.EnvelopeTo.StartsWith("reader", StringComparison.Ordinal)).ToList();
        Assert.Equal(25, readers.Count);
        Assert.Equal(25, readers.Select(m => m.EnvelopeTo).Distinct().Count());
        Assert.Single(received, m => m.EnvelopeTo == "author@example.org");

        // The ledger, as JSON lines and as CSV, says the same.
        var lines = (await api.GetStringAsync($"/api/v1/issues/{id}/ledger", Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(25, lines.Length);
        Assert.All(lines, l => Assert.Equal("Sent", System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("status").GetString()));
        var ledgerCsv = await api.GetAsync($"/api/v1/issues/{id}/ledger?format=csv", Ct);
        Assert.Equal("text/csv", ledgerCsv.Content.Headers.ContentType?.MediaType);
        Assert.Equal(26, (await ledgerCsv.Content.ReadAsStringAsync(Ct)).Trim().Split('\n').Length);

        // Once sent, the issue can't be edited or sent again.
        var (edit, editProblem) = await PostJsonAsync(api, $"/api/v1/issues/{id}/send", null);
        Assert.Equal(HttpStatusCode.Conflict, edit.StatusCode);
        Assert.Equal(409, editProblem.GetProperty("status").GetInt32());
        Assert.Equal(25, smtp.Messages().Count(m => m.EnvelopeTo.StartsWith("reader", StringComparison.Ordinal)));
    }

    /// <summary>
    /// Walking the reader list through the API is the list's export: a viewer's, writer's or editor's read token is
    /// refused it (a viewer's token paged out every address), an editor's still reads one reader by id, and each
    /// walk an owner's token makes is in the audit log once, at its first page.
    /// </summary>
    [Fact]
    public async Task OnlyAnOwnersTokenWalksTheReaderListAndEachWalkIsAudited()
    {
        using var app = new NewsletterApp();
        var owner = await ClientAsync(app);
        long id = 0;
        foreach (var email in new[] { "first@example.org", "second@example.org" })
        {
            var (created, reader) = await PostJsonAsync(owner, "/api/v1/subscribers", new { email, doubleOptIn = false, consent = "test" });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            id = reader.GetProperty("id").GetInt64();
        }

        foreach (var role in new[] { Web.Admin.AuthorRole.Viewer, Web.Admin.AuthorRole.Writer, Web.Admin.AuthorRole.Editor })
        {
            var token = With(app, await TokenAsync(app, Web.Api.ApiScopes.Read, role: role));
            Assert.Equal(HttpStatusCode.Forbidden, (await token.GetAsync("/api/v1/subscribers", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await token.GetAsync("/api/v1/events", Ct)).StatusCode);
            var one = role == Web.Admin.AuthorRole.Editor ? HttpStatusCode.OK : HttpStatusCode.Forbidden;
            Assert.Equal(one, (await token.GetAsync($"/api/v1/subscribers/{id}", Ct)).StatusCode);
            Assert.Equal(one, (await token.GetAsync($"/api/v1/subscribers/{id}/events", Ct)).StatusCode);
        }

        var first = await GetJsonAsync(owner, "/api/v1/subscribers?limit=1");
        var second = await GetJsonAsync(owner, "/api/v1/subscribers?limit=1&cursor=" + first.GetProperty("next").GetString());
        Assert.Equal("first@example.org", second.GetProperty("items")[0].GetProperty("email").GetString());
        await using var scope = app.Services.CreateAsyncScope();
        var audited = await scope.ServiceProvider.GetRequiredService<Web.Data.AppDbContext>().AuditEntries.Where(a => a.Action == "readers.export").ToListAsync(Ct);
        var walk = Assert.Single(audited);
        Assert.Contains("the list through the API, ?limit=1", walk.Detail, StringComparison.Ordinal);
        Assert.Contains("via API token", walk.ActorName, StringComparison.Ordinal);
    }
}
