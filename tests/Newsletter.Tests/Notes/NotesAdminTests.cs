using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;

namespace Newsletter.Tests.Notes;

public class NotesAdminTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string> Note(string title, string intent, string slug = "", string markdown = "Some *text*.") => new()
    {
        ["Input.Title"] = title,
        ["Input.Slug"] = slug,
        ["Input.Date"] = "2026-06-01",
        ["Input.Tags"] = "writing, Tests",
        ["Input.Summary"] = "",
        ["Input.Markdown"] = markdown,
        ["intent"] = intent,
    };

    [Fact]
    public async Task AnAuthorWritesPublishesUnpublishesAndDeletesANote()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var publicClient = app.CreateClient();

        var saved = await Forms.PostAsync(client, "/admin/notes/new", Note("My first note", "save"));
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        var editUrl = saved.Headers.Location!.OriginalString.Split('?')[0];
        Assert.Equal(HttpStatusCode.NotFound, (await publicClient.GetAsync("/notes/my-first-note", Ct)).StatusCode);

        var published = await Forms.PostAsync(client, editUrl, Note("My first note", "publish"));
        Assert.Equal(HttpStatusCode.Redirect, published.StatusCode);
        var page = await publicClient.GetStringAsync("/notes/my-first-note", Ct);
        Assert.Contains("<em>text</em>", page, StringComparison.Ordinal);
        Assert.Contains("/tags/tests", page, StringComparison.Ordinal);
        Assert.Contains("My first note", await publicClient.GetStringAsync("/", Ct), StringComparison.Ordinal);

        await Forms.PostAsync(client, editUrl, Note("My first note", "unpublish"));
        Assert.Equal(HttpStatusCode.NotFound, (await publicClient.GetAsync("/notes/my-first-note", Ct)).StatusCode);

        var deleteUrl = editUrl + "/delete";
        var deleted = await Forms.PostAsync(client, deleteUrl, new Dictionary<string, string>());
        Assert.Equal(HttpStatusCode.Redirect, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(editUrl, Ct)).StatusCode);
    }

    [Theory]
    [InlineData("C#", "c-sharp")]
    [InlineData("#Rust", "rust")]
    [InlineData("c++, F#", "c-plus-plus")]
    [InlineData("Node.js", "node-js")]
    [InlineData("=1+1", "1-1")]
    [InlineData("  Working   notes ", "working-notes")]
    public void ATagKeepsWhatMakesItsNameDistinct(string written, string first)
    {
        Assert.Equal(first, Newsletter.Web.Notes.Tags.Parse(written).First());
    }

    [Fact]
    public async Task NotesOnCSharpAndOnCKeepTheirOwnTagPages()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        foreach (var (title, tags) in new[] { ("Spans in C sharp", "C#"), ("Pointers in C", "C") })
        {
            var form = Note(title, "publish");
            form["Input.Tags"] = tags;
            Assert.Equal(HttpStatusCode.Redirect, (await Forms.PostAsync(client, "/admin/notes/new", form)).StatusCode);
        }

        var reader = app.CreateClient();
        var sharp = await reader.GetStringAsync("/tags/c-sharp", Ct);
        Assert.Contains("Spans in C sharp", sharp, StringComparison.Ordinal);
        Assert.DoesNotContain("Pointers in C", sharp, StringComparison.Ordinal);
        var c = await reader.GetStringAsync("/tags/c", Ct);
        Assert.Contains("Pointers in C", c, StringComparison.Ordinal);
        Assert.DoesNotContain("Spans in C sharp", c, StringComparison.Ordinal);
        // The address a reader types, with the '#' escaped, finds the same page.
        Assert.Contains("Spans in C sharp", await reader.GetStringAsync("/tags/C%23", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADoubleClickedDeleteDeletesOnceAndAnswersCalmly()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var saved = await Forms.PostAsync(client, "/admin/notes/new", Note("Delete me", "publish"));
        var deleteUrl = saved.Headers.Location!.OriginalString.Split('?')[0] + "/delete";
        // Two tabs of the same author (one session, two cookie jars): each is told what its own click did.
        var other = app.CreateBrowserClient();
        await Newsletter.Tests.Admin.AuthorTestClients.SignInAsync(other, "owner@example.org", Newsletter.Tests.Admin.AuthorTestClients.Password);
        var tabs = new[] { client, other };
        var tokens = await Task.WhenAll(tabs.Select(t => Forms.TokenAsync(t, deleteUrl)));
        var both = await Task.WhenAll(tabs.Select((t, i) => t.PostAsync(deleteUrl, new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = tokens[i] }), Ct)));
        Assert.All(both, r => Assert.Equal(HttpStatusCode.Redirect, r.StatusCode));
        var pages = await Task.WhenAll(tabs.Select(t => t.GetStringAsync("/admin/notes", Ct)));
        Assert.Single(pages, p => p.Contains("Note deleted.", StringComparison.Ordinal));
        Assert.Single(pages, p => p.Contains("That note was already deleted.", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Gone, (await app.CreateClient().GetAsync("/notes/delete-me", Ct)).StatusCode);
    }

    /// <summary>
    /// A note in an unsent issue: the delete page names the issue first. Its text keeps the note as last composed,
    /// so a scheduled send would mail it and publish it on the issue's page after the note was deleted.
    /// </summary>
    [Fact]
    public async Task TheDeletePageNamesUnsentIssuesThatIncludeTheNote()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var saved = await Forms.PostAsync(client, "/admin/notes/new", Note("Included note", "publish"));
        var editUrl = saved.Headers.Location!.OriginalString.Split('?')[0];
        var noteId = int.Parse(editUrl.Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.DoesNotContain("include this note", WebUtility.HtmlDecode(await client.GetStringAsync(editUrl + "/delete", Ct)), StringComparison.Ordinal);

        var api = await Api.ApiClients.ClientAsync(app);
        var issue = await api.PostAsync("/api/v1/issues", new StringContent($$"""{"subject":"Roundup with the note","markdown":"Intro.","noteIds":[{{noteId}}]}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Created, issue.StatusCode);

        var page = WebUtility.HtmlDecode(await client.GetStringAsync(editUrl + "/delete", Ct));
        Assert.Contains("An unsent issue includes this note.", page, StringComparison.Ordinal);
        Assert.Contains(">Roundup with the note</a> (draft)", page, StringComparison.Ordinal);
    }

    /// <summary>
    /// An issue is public once sent, so it carries published notes only: a draft is refused when the issue is
    /// saved, and a note unpublished after the issue was saved stops the send with its name. Before, both went
    /// out in full by email and on the issue's page while the note's own page said 404.
    /// </summary>
    [Fact]
    public async Task AnIssueCarriesOnlyPublishedNotes()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var published = await Forms.PostAsync(client, "/admin/notes/new", Note("Withdrawn later", "publish"));
        var publishedId = int.Parse(published.Headers.Location!.OriginalString.Split('?')[0].Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture);
        var draft = await Forms.PostAsync(client, "/admin/notes/new", Note("Never published", "save"));
        var draftId = int.Parse(draft.Headers.Location!.OriginalString.Split('?')[0].Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture);

        var api = await Api.ApiClients.ClientAsync(app);
        var withDraft = await api.PostAsync("/api/v1/issues", new StringContent($$"""{"subject":"With a draft","markdown":"Intro.","noteIds":[{{draftId}}]}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, withDraft.StatusCode);
        Assert.Contains("“Never published” is not published: publish it first, or take it out of the issue.", await withDraft.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var issue = await api.PostAsync("/api/v1/issues", new StringContent($$"""{"subject":"Roundup","markdown":"Intro.","noteIds":[{{publishedId}}]}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Created, issue.StatusCode);
        var issueId = System.Text.Json.JsonDocument.Parse(await issue.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("id").GetInt32();
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync($"/api/v1/notes/{publishedId}/unpublish", null, Ct)).StatusCode);

        var send = await api.PostAsync($"/api/v1/issues/{issueId}/send", null, Ct);
        Assert.Equal(HttpStatusCode.Conflict, send.StatusCode);
        Assert.Contains("“Withdrawn later” is not published", await send.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.AppDbContext>();
        Assert.Equal(Newsletter.Web.Issues.IssueStatus.Draft, await db.Issues.Where(i => i.Id == issueId).Select(i => i.Status).FirstAsync(Ct));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("a/b")]
    [InlineData("UPPER")]
    public async Task AnUnsafeSlugIsRefusedWithAMessage(string slug)
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var response = await Forms.PostAsync(client, "/admin/notes/new", Note("Traversal", "publish", slug));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("The slug may only hold", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASecondNoteCannotTakeAnExistingSlug()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        await Forms.PostAsync(client, "/admin/notes/new", Note("Same", "publish", "same"));
        var second = await Forms.PostAsync(client, "/admin/notes/new", Note("Same again", "publish", "same"));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Contains("already uses the slug", await second.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATitleUsedBeforeGetsTheNextFreeSlugWhenNoneIsGiven()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        await Forms.PostAsync(client, "/admin/notes/new", Note("Same", "publish"));
        var second = await Forms.PostAsync(client, "/admin/notes/new", Note("Same", "publish"));
        Assert.Equal(HttpStatusCode.Redirect, second.StatusCode);
        var page = await app.CreateClient().GetAsync("/notes/same-2", Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/notes/same", Ct)).StatusCode);
    }

    [Fact]
    public async Task AFileBackedNoteIsReadOnlyInTheAdmin()
    {
        using var app = new NewsletterApp();
        app.WriteNote("owned.md", "---\ntitle: Owned by file\nslug: owned\n---\nFrom the file");
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var list = await client.GetStringAsync("/admin/notes", Ct);
        Assert.Contains("notes/owned.md", list, StringComparison.Ordinal);
        var id = System.Text.RegularExpressions.Regex.Match(list, "href=\"/admin/notes/(\\d+)\">Owned by file").Groups[1].Value;
        var edit = await client.GetStringAsync($"/admin/notes/{id}", Ct);
        Assert.Contains("owned by its file", edit, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"Input.Markdown\"", edit, StringComparison.Ordinal);
        var post = await Forms.PostAsync(client, "/admin/notes/new", new Dictionary<string, string>(), $"/admin/notes/{id}");
        Assert.Equal(HttpStatusCode.BadRequest, post.StatusCode);
    }

    [Fact]
    public async Task ThePreviewEndpointRendersSanitisedHtml()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var response = await client.PostAsync("/admin/api/preview", new StringContent("{\"markdown\":\"**hi** <script>x()</script>\"}", System.Text.Encoding.UTF8, "application/json"), Ct);
        var json = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("<strong>hi</strong>", System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("html").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("x()", json, StringComparison.Ordinal);
    }
}
