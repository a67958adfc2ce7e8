using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Tests.Api;
using Newsletter.Tests.Sending;
using Newsletter.Web.Admin;
using Newsletter.Web.Api;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;
using Newsletter.Web.Digests;
using Newsletter.Web.Issues;
using static Newsletter.Tests.Admin.AuthorTestClients;

namespace Newsletter.Tests.Admin;

public class RoleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Dictionary<string, string> Screen = new() { ["subject"] = "Ledgers all the way down", ["markdown"] = "Hello **readers**.", ["channel"] = "both" };

    private static async Task<HttpClient> OwnerAsync(NewsletterApp app)
    {
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner, "owner@example.org", Password);
        return owner;
    }

    private static async Task<T> WithDbAsync<T>(NewsletterApp app, Func<AppDbContext, Task<T>> read)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await read(scope.ServiceProvider.GetRequiredService<AppDbContext>());
    }

    private static Task<AppUser> UserAsync(NewsletterApp app, string email) =>
        WithDbAsync(app, db => db.Users.AsNoTracking().SingleAsync(u => u.Email == email, Ct));

    [Fact]
    public async Task AWriterCanSaveButCannotSendFromThePageOrThroughTheApiAndNothingIsQueued()
    {
        using var app = new NewsletterApp();
        var owner = await OwnerAsync(app);
        await SendingFixture.AddReadersAsync(app, 3);
        var writer = await CoAuthorAsync(app, owner, "wren@example.org", "Writer");
        var issueId = await SendingFixture.AddIssueAsync(app, subject: Screen["subject"]);
        var editUrl = $"/admin/issues/{issueId}";

        // Writing is theirs: a save goes through.
        var saved = await Forms.PostAsync(writer, editUrl, Screen, editUrl + "?handler=Save");
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);

        // Sending is not, however the form is forged: the page shows no button, and the server refuses the post.
        var page = await (await writer.GetAsync(editUrl, Ct)).Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain("handler=SendNow", page, StringComparison.Ordinal);
        Assert.Contains("an owner or editor schedules and sends them", page, StringComparison.Ordinal);
        foreach (var handler in new[] { "SendNow", "Schedule", "Unschedule" })
        {
            var post = await Forms.PostAsync(writer, editUrl, new Dictionary<string, string>(Screen) { ["at"] = "2030-01-01T09:00" }, $"{editUrl}?handler={handler}");
            Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
            Assert.Contains("Nothing was changed", await post.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        // The page has no test form for them; a token from another page stands in for a forged one.
        var test = await Forms.PostAsync(writer, "/admin/account", new Dictionary<string, string> { ["addresses"] = "wren@example.org" }, $"/admin/issues/{issueId}/preview?handler=Test");
        Assert.Equal(HttpStatusCode.Forbidden, test.StatusCode);

        // A token of a writer that was given "send" keeps only what the role allows.
        var api = ApiClients.With(app, await ApiClients.TokenAsync(app, ApiScopes.Read | ApiScopes.Write | ApiScopes.Send, role: AuthorRole.Writer));
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync($"/api/v1/issues/{issueId}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await api.PostAsync($"/api/v1/issues/{issueId}/send", null, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await api.PostAsync($"/api/v1/issues/{issueId}/schedule", JsonContent.Create(new { at = DateTimeOffset.UtcNow.AddDays(1) }), Ct)).StatusCode);

        var issue = await WithDbAsync(app, db => db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct));
        Assert.Equal(IssueStatus.Draft, issue.Status);
        Assert.Null(issue.ScheduledAt);
        Assert.Equal(0, await WithDbAsync(app, db => db.Deliveries.CountAsync(Ct)));
        Assert.Equal(0, await WithDbAsync(app, db => db.AuditEntries.CountAsync(e => e.ObjectType == "issue", Ct)));
    }

    /// <summary>
    /// What goes out by itself is a sender's: a scheduled issue's text and readers, and a digest that sends itself.
    /// A writer who could change either would mail every reader under an editor's name, with nothing in the log.
    /// </summary>
    [Fact]
    public async Task AWriterCannotChangeAScheduledIssueOrADigestThatSendsItself()
    {
        using var app = new NewsletterApp();
        var owner = await OwnerAsync(app);
        var writer = await CoAuthorAsync(app, owner, "wren@example.org", "Writer");
        var issueId = await SendingFixture.AddIssueAsync(app, subject: Screen["subject"]);
        var editUrl = $"/admin/issues/{issueId}";
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.Equal(ScheduleOutcome.Scheduled, await scope.ServiceProvider.GetRequiredService<IssueEditor>().ScheduleAsync(issueId, DateTime.UtcNow.AddDays(30), Ct));
        }

        Assert.Equal(IssueStatus.Scheduled, await WithDbAsync(app, db => db.Issues.Where(i => i.Id == issueId).Select(i => i.Status).SingleAsync(Ct)));

        // From the page: refused with a sentence, nothing saved.
        var page = await Forms.PostAsync(writer, editUrl, new Dictionary<string, string>(Screen) { ["subject"] = "Changed by the writer" }, editUrl + "?handler=Save");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("only an owner or editor, who may send, can change it now", WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        // Through the API, with a write token.
        var api = ApiClients.With(app, await ApiClients.TokenAsync(app, ApiScopes.Read | ApiScopes.Write, role: AuthorRole.Writer));
        var put = await api.PutAsync($"/api/v1/issues/{issueId}", JsonContent.Create(new { subject = "Changed through the API", markdown = "x" }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, put.StatusCode);
        Assert.Contains("takes the 'send' scope", await put.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var issue = await WithDbAsync(app, db => db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct));
        Assert.Equal((Screen["subject"], IssueStatus.Scheduled), (issue.Subject, issue.Status));

        // An editor may change it, and the log says who did, beside who scheduled it.
        var changed = await Forms.PostAsync(owner, editUrl, new Dictionary<string, string>(Screen) { ["subject"] = "Changed by the owner" }, editUrl + "?handler=Save");
        Assert.Equal(HttpStatusCode.Redirect, changed.StatusCode);
        var edit = await WithDbAsync(app, db => db.AuditEntries.AsNoTracking().SingleAsync(e => e.Action == AuditActions.IssueEdit, Ct));
        Assert.Contains("changed while scheduled", edit.Detail, StringComparison.Ordinal);

        // Digests: a writer may keep one that waits for approval, not make one that sends itself.
        Dictionary<string, string> Digest(string name, string mode) => new()
        {
            ["Input.Name"] = name, ["Input.Cadence"] = "EveryNNotes", ["Input.NoteCount"] = "1", ["Input.Hour"] = "9",
            ["Input.Weekday"] = "1", ["Input.DayOfMonth"] = "1", ["Input.Mode"] = mode,
        };
        Assert.Equal(HttpStatusCode.Forbidden, (await Forms.PostAsync(writer, "/admin/digests/new", Digest("By the writer", "SendItself"))).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await Forms.PostAsync(writer, "/admin/digests/new", Digest("Waits", "Approval"))).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await Forms.PostAsync(owner, "/admin/digests/new", Digest("Sends", "SendItself"))).StatusCode);
        var digests = await WithDbAsync(app, db => db.Digests.AsNoTracking().ToDictionaryAsync(d => d.Name, d => d.Id, Ct));
        Assert.Equal(["Sends", "Waits"], digests.Keys.Order(StringComparer.Ordinal));
        // Nor switch one to it, or touch the owner's.
        Assert.Equal(HttpStatusCode.Forbidden, (await Forms.PostAsync(writer, $"/admin/digests/{digests["Waits"]}", Digest("Waits", "SendItself"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Forms.PostAsync(writer, $"/admin/digests/{digests["Sends"]}", Digest("Sends", "Approval"))).StatusCode);
        foreach (var handler in new[] { "Pause", "Delete" })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await Forms.PostAsync(writer, "/admin/digests", new Dictionary<string, string>(), $"/admin/digests?handler={handler}&id={digests["Sends"]}")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Redirect, (await Forms.PostAsync(writer, "/admin/digests", new Dictionary<string, string>(), $"/admin/digests?handler=Pause&id={digests["Waits"]}")).StatusCode);
        var list = await writer.GetStringAsync("/admin/digests", Ct);
        Assert.Equal(1, list.Split("handler=Resume").Length - 1 + list.Split("handler=Pause").Length - 1);
        Assert.False(await WithDbAsync(app, db => db.Digests.Where(d => d.Name == "Sends").Select(d => d.Paused).SingleAsync(Ct)));
        Assert.Equal(DigestMode.SendItself, await WithDbAsync(app, db => db.Digests.Where(d => d.Name == "Sends").Select(d => d.Mode).SingleAsync(Ct)));
        var digestLog = await WithDbAsync(app, db => db.AuditEntries.AsNoTracking().Where(e => e.Action == AuditActions.DigestChange).ToListAsync(Ct));
        Assert.Contains("“Sends” saved; it sends itself", Assert.Single(digestLog).Detail, StringComparison.Ordinal);
    }

    /// <summary>A POST that names no handler of the page (a hand-made request) is a 400, not the page rendered without its data (a 500).</summary>
    [Fact]
    public async Task APostNamingNoHandlerIsABadRequest()
    {
        using var app = new NewsletterApp();
        var owner = await OwnerAsync(app);
        var readers = await SendingFixture.AddReadersAsync(app, 1);
        var issueId = await SendingFixture.AddIssueAsync(app);
        foreach (var url in new[] { $"/admin/issues/{issueId}", $"/admin/subscribers/{readers[0]}", $"/admin/issues/{issueId}/progress", $"/admin/issues/{issueId}/preview" })
        {
            var response = await Forms.PostAsync(owner, url, new Dictionary<string, string>());
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{url}: {(int)response.StatusCode}");
        }

        // Not HasErrors: Hangfire logs through one global provider, so another test host's job can land here.
        Assert.DoesNotContain(app.ServerLog.Entries, e => e.Contains("NullReferenceException", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AViewerReadsTheAdminButCannotWriteInviteOrChangeReaders()
    {
        using var app = new NewsletterApp();
        var owner = await OwnerAsync(app);
        var readers = await SendingFixture.AddReadersAsync(app, 1);
        var issueId = await SendingFixture.AddIssueAsync(app);
        var viewer = await CoAuthorAsync(app, owner, "vera@example.org", "Viewer");

        foreach (var url in new[] { "/admin", "/admin/notes", "/admin/issues", $"/admin/issues/{issueId}", "/admin/subscribers", "/admin/users", "/admin/images" })
        {
            Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync(url, Ct)).StatusCode);
        }

        var notePage = await (await viewer.GetAsync("/admin/notes/new", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain("value=\"publish\"", notePage, StringComparison.Ordinal);
        var refused = new[]
        {
            await Forms.PostAsync(viewer, "/admin/notes/new", new Dictionary<string, string> { ["Input.Title"] = "Mine", ["Input.Markdown"] = "x", ["intent"] = "save" }),
            await Forms.PostAsync(viewer, "/admin/account", new Dictionary<string, string>(), "/admin/issues?handler=New"),
            await Forms.PostAsync(viewer, $"/admin/issues/{issueId}", Screen, $"/admin/issues/{issueId}?handler=Save"),
            await Forms.PostAsync(viewer, "/admin/account", new Dictionary<string, string> { ["name"] = "Eve", ["email"] = "eve@example.org", ["role"] = "Owner" }, "/admin/users"),
            await Forms.PostAsync(viewer, $"/admin/subscribers/{readers[0]}", new Dictionary<string, string> { ["name"] = "Changed" }, $"/admin/subscribers/{readers[0]}?handler=Save"),
            await Forms.PostAsync(viewer, "/admin/subscribers/new", new Dictionary<string, string> { ["email"] = "new@example.org" }),
        };
        Assert.All(refused, r => Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode));
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.GetAsync("/admin/subscribers/export.csv", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.GetAsync("/admin/audit", Ct)).StatusCode);

        // An import's page gives a viewer its counts, but not the refused rows (addresses) nor a link to them.
        var api = await Api.ApiClients.ClientAsync(app);
        var upload = await api.PostAsync("/api/v1/imports", new StringContent("email\nkept.secret@example\nfine@example.org\n", System.Text.Encoding.UTF8, "text/csv"), Ct);
        var import = await Api.ApiClients.PollAsync(api, upload.Headers.Location!.ToString(), b => b.GetProperty("done").GetBoolean());
        var importPage = $"/admin/subscribers/imports/{import.GetProperty("id").GetInt32()}";
        var seen = await viewer.GetStringAsync(importPage, Ct);
        Assert.Contains("Rows with errors", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("kept.secret", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("errors.csv", seen, StringComparison.Ordinal);
        var ownersView = await owner.GetStringAsync(importPage, Ct);
        Assert.Contains("kept.secret", ownersView, StringComparison.Ordinal);
        Assert.Contains("errors.csv", ownersView, StringComparison.Ordinal);

        Assert.Equal(0, await WithDbAsync(app, db => db.Notes.CountAsync(n => n.Title == "Mine", Ct)));
        Assert.Equal(1, await WithDbAsync(app, db => db.Issues.CountAsync(Ct)));
        Assert.Null(await WithDbAsync(app, db => db.Users.FirstOrDefaultAsync(u => u.Email == "eve@example.org", Ct)));

        // Their own account stays theirs: a viewer may still change their password.
        var changed = await Forms.PostAsync(viewer, "/admin/account", new Dictionary<string, string> { ["current"] = "ada's own long passphrase", ["next"] = "vera's even longer passphrase" }, "/admin/account?handler=Password");
        Assert.Contains("Password changed.", await changed.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASuspendedAuthorIsSignedOutAtTheirNextRequestAndTheirTokensStop()
    {
        using var app = new NewsletterApp();
        var owner = await OwnerAsync(app);
        var editor = await CoAuthorAsync(app, owner, "ed@example.org", "Editor");
        var ed = await UserAsync(app, "ed@example.org");
        string secret;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            secret = (await scope.ServiceProvider.GetRequiredService<ApiTokens>().CreateAsync("ed's script", ApiScopes.Read, null, ed.Id, "Ed", Ct)).Secret;
        }

        var api = ApiClients.With(app, secret);
        Assert.Equal(HttpStatusCode.OK, (await editor.GetAsync("/admin/notes", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/issues", Ct)).StatusCode);

        var suspended = await Forms.PostAsync(owner, "/admin/users", new Dictionary<string, string> { ["id"] = ed.Id }, "/admin/users?handler=Suspend");
        Assert.Contains("is suspended", await suspended.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // The very next request: no grace period, on the page or the API.
        var next = await editor.GetAsync("/admin/notes", Ct);
        Assert.Equal(HttpStatusCode.Redirect, next.StatusCode);
        Assert.StartsWith("/admin/login", next.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("/api/v1/issues", Ct)).StatusCode);
        Assert.NotEqual(HttpStatusCode.Redirect, (await SignInAsync(app.CreateBrowserClient(), "ed@example.org", "ada's own long passphrase")).StatusCode);

        // Restored, they sign in again; the old cookie stays dead.
        await Forms.PostAsync(owner, "/admin/users", new Dictionary<string, string> { ["id"] = ed.Id }, "/admin/users?handler=Restore");
        Assert.Equal(HttpStatusCode.Redirect, (await editor.GetAsync("/admin/notes", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(app.CreateBrowserClient(), "ed@example.org", "ada's own long passphrase")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/issues", Ct)).StatusCode);

        // Removed: gone everywhere, and their token is marked revoked.
        var signedIn = app.CreateBrowserClient();
        await SignInAsync(signedIn, "ed@example.org", "ada's own long passphrase");
        await Forms.PostAsync(owner, "/admin/users", new Dictionary<string, string> { ["id"] = ed.Id }, "/admin/users?handler=Remove");
        Assert.Equal(HttpStatusCode.Redirect, (await signedIn.GetAsync("/admin/notes", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("/api/v1/issues", Ct)).StatusCode);
        Assert.NotNull(await WithDbAsync(app, db => db.ApiTokens.Where(t => t.CreatedById == ed.Id).Select(t => t.RevokedAt).SingleAsync(Ct)));
        Assert.Equal(
            [AuditActions.AuthorInvite, AuditActions.AuthorSuspend, AuditActions.AuthorRestore, AuditActions.AuthorRemove],
            await WithDbAsync(app, db => db.AuditEntries.OrderBy(e => e.Id).Select(e => e.Action).ToListAsync(Ct)));
    }

    [Fact]
    public async Task TheLastOwnerCannotBeDemotedSuspendedOrRemoved()
    {
        using var app = new NewsletterApp();
        var owner = await OwnerAsync(app);
        var me = await UserAsync(app, "owner@example.org");

        var demoted = await Forms.PostAsync(owner, "/admin/users", new Dictionary<string, string> { ["id"] = me.Id, ["role"] = "Editor" }, "/admin/users?handler=Role");
        Assert.Contains("last active owner", await demoted.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(AuthorRole.Owner, (await UserAsync(app, "owner@example.org")).Role);

        // A second owner can suspend or remove the first, and the first can then step down; the second can't.
        var ada = await CoAuthorAsync(app, owner, "ada@example.org", "Owner");
        var adaId = (await UserAsync(app, "ada@example.org")).Id;
        var stepDown = await Forms.PostAsync(owner, "/admin/users", new Dictionary<string, string> { ["id"] = me.Id, ["role"] = "Editor" }, "/admin/users?handler=Role");
        Assert.Contains("is now an editor", await stepDown.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(AuthorRole.Editor, (await UserAsync(app, "owner@example.org")).Role);

        // The former owner's session reads the new role at once: the authors page is no longer theirs to change.
        Assert.Equal(HttpStatusCode.Forbidden, (await Forms.PostAsync(owner, "/admin/account", new Dictionary<string, string> { ["id"] = adaId, ["role"] = "Viewer" }, "/admin/users?handler=Role")).StatusCode);

        foreach (var handler in new[] { "Role", "Suspend", "Remove" })
        {
            var self = await Forms.PostAsync(ada, "/admin/users", new Dictionary<string, string> { ["id"] = adaId, ["role"] = "Viewer" }, $"/admin/users?handler={handler}");
            Assert.Equal(HttpStatusCode.OK, self.StatusCode);
        }

        var last = await UserAsync(app, "ada@example.org");
        Assert.Equal(AuthorRole.Owner, last.Role);
        Assert.Null(last.SuspendedAt);
    }

    [Fact]
    public async Task EverySendAndExportIsRecordedWithWhoDidItAndTheIssueSaysWhoSentIt()
    {
        using var app = new NewsletterApp();
        var owner = await OwnerAsync(app);
        await SendingFixture.AddReadersAsync(app, 2);
        var issueId = await SendingFixture.AddIssueAsync(app, subject: Screen["subject"]);
        var editor = await CoAuthorAsync(app, owner, "ed@example.org", "Editor");

        // The editor sends (they may); the page's save comes first, so the screen is what is stored.
        var editUrl = $"/admin/issues/{issueId}";
        await Forms.PostAsync(editor, editUrl, Screen, editUrl + "?handler=Save");
        var sent = await Forms.PostAsync(editor, editUrl, Screen, editUrl + "?handler=SendNow");
        Assert.Equal($"/admin/issues/{issueId}/progress", sent.Headers.Location!.OriginalString);

        // Exports are the owner's; the editor is refused and that refusal writes nothing.
        Assert.Equal(HttpStatusCode.Forbidden, (await editor.GetAsync("/admin/subscribers/export.csv", Ct)).StatusCode);
        var csv = await owner.GetAsync("/admin/subscribers/export.csv?status=active", Ct);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Contains("reader", await csv.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var entries = await WithDbAsync(app, db => db.AuditEntries.AsNoTracking().OrderBy(e => e.Id).ToListAsync(Ct));
        var send = Assert.Single(entries, e => e.Action == AuditActions.IssueSend);
        Assert.Equal("Ada", send.ActorName);
        Assert.Equal(issueId.ToString(System.Globalization.CultureInfo.InvariantCulture), send.ObjectId);
        Assert.Contains(Screen["subject"], send.Detail, StringComparison.Ordinal);
        var export = Assert.Single(entries, e => e.Action == AuditActions.ReadersExport);
        Assert.Equal("Owner", export.ActorName);
        Assert.Contains("2 readers", export.Detail, StringComparison.Ordinal);

        // The issue's page says who sent it; the audit page lists both, for owners only.
        var progress = await (await owner.GetAsync($"/admin/issues/{issueId}/progress", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Matches("Sent by</dt><dd data-field=\"sent-by\">Ada · ", progress);
        var audit = await (await owner.GetAsync("/admin/audit", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Contains(AuditActions.IssueSend, audit, StringComparison.Ordinal);
        Assert.Contains(AuditActions.ReadersExport, audit, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await editor.GetAsync("/admin/audit", Ct)).StatusCode);
    }

    [Fact]
    public async Task ASendThroughTheApiIsRecordedUnderTheTokensAuthor()
    {
        using var app = new NewsletterApp();
        await SendingFixture.AddReadersAsync(app, 1);
        var issueId = await SendingFixture.AddIssueAsync(app);
        var api = ApiClients.With(app, await ApiClients.TokenAsync(app, ApiScopes.Read | ApiScopes.Send, role: AuthorRole.Editor));

        Assert.Equal(HttpStatusCode.Accepted, (await api.PostAsync($"/api/v1/issues/{issueId}/send", null, Ct)).StatusCode);

        var entry = await WithDbAsync(app, db => db.AuditEntries.AsNoTracking().SingleAsync(Ct));
        Assert.Equal(AuditActions.IssueSend, entry.Action);
        Assert.StartsWith("Test Editor via API token", entry.ActorName, StringComparison.Ordinal);
    }

    /// <summary>The ledger holds every recipient's address: through the API, as in the admin, owners only, and recorded.</summary>
    [Fact]
    public async Task TheLedgerThroughTheApiIsAnOwnersAndEachDownloadIsRecorded()
    {
        using var app = new NewsletterApp();
        await SendingFixture.AddReadersAsync(app, 1);
        var issueId = await SendingFixture.AddIssueAsync(app);
        foreach (var role in new[] { AuthorRole.Viewer, AuthorRole.Writer, AuthorRole.Editor })
        {
            var api = ApiClients.With(app, await ApiClients.TokenAsync(app, ApiScopes.Read, role: role));
            var refused = await api.GetAsync($"/api/v1/issues/{issueId}/ledger?format=csv", Ct);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            // A role, not a scope a new token could carry: the problem says whose token it takes.
            Assert.Contains("takes a token of an author who is owner", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        Assert.False(await WithDbAsync(app, db => db.AuditEntries.AnyAsync(Ct)));
        var owner = ApiClients.With(app, await ApiClients.TokenAsync(app, ApiScopes.Read));
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync($"/api/v1/issues/{issueId}/ledger", Ct)).StatusCode);
        var entry = await WithDbAsync(app, db => db.AuditEntries.AsNoTracking().SingleAsync(Ct));
        Assert.Equal(AuditActions.LedgerExport, entry.Action);
        Assert.StartsWith("Test Owner via API token", entry.ActorName, StringComparison.Ordinal);
    }
}
