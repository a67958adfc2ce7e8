using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;

namespace Newsletter.Tests.Notes;

public class NoteImportTests
{
    private static string NoteText(string slug, string title = "A title", string body = "Body") =>
        $"---\ntitle: \"{title}\"\nslug: {slug}\ndate: 2026-04-01\ntags: [testing]\nstatus: published\n---\n{body}\n";

    private static async Task<NoteImportResult> ImportAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<NoteImporter>().ImportAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task NotesFolderIsImportedAtStartUpAndServed()
    {
        using var app = new NewsletterApp();
        app.WriteNote("first.md", NoteText("first-note", "First note"));
        var client = app.CreateClient();
        var html = await client.GetStringAsync("/notes/first-note", TestContext.Current.CancellationToken);
        Assert.Contains("First note", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportingTwiceChangesNothingTheSecondTime()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", NoteText("note-a"));
        app.WriteNote("b.md", NoteText("note-b"));
        _ = app.Services; // start-up import
        var second = await ImportAsync(app);
        Assert.Equal(0, second.Added);
        Assert.Equal(0, second.Updated);
        Assert.Equal(2, second.Unchanged);
    }

    [Fact]
    public async Task AChangedFileUpdatesItsNoteInPlace()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", NoteText("note-a", body: "old words"));
        _ = app.Services;
        app.WriteNote("a.md", NoteText("note-a", body: "new words"));
        var result = await ImportAsync(app);
        Assert.Equal(1, result.Updated);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var note = await db.Notes.SingleAsync(n => n.Slug == "note-a", TestContext.Current.CancellationToken);
        Assert.Contains("new words", note.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABrokenFileIsReportedByNameAndLineWhileTheOthersImport()
    {
        using var app = new NewsletterApp();
        app.WriteNote("good.md", NoteText("good-note"));
        app.WriteNote("broken.md", "---\ntitle: [unclosed\n---\nBody");
        var result = await ImportAsync(app);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("broken.md:", error, StringComparison.Ordinal);
        var response = await app.CreateClient().GetAsync("/notes/good-note", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task TwoFilesWithOneSlugImportTheFirstAndReportTheSecond()
    {
        using var app = new NewsletterApp();
        app.WriteNote("a.md", NoteText("same-slug", "From A"));
        app.WriteNote("b.md", NoteText("same-slug", "From B"));
        var result = await ImportAsync(app);
        var error = Assert.Single(result.Errors);
        Assert.Contains("b.md", error, StringComparison.Ordinal);
        Assert.Contains("a.md", error, StringComparison.Ordinal);
        var html = await app.CreateClient().GetStringAsync("/notes/same-slug", TestContext.Current.CancellationToken);
        Assert.Contains("From A", html, StringComparison.Ordinal);
    }

    /// <summary>A typo in a published note's front matter is reported; the page stays up as last imported until the file is fixed.</summary>
    [Fact]
    public async Task AFileThatNoLongerParsesKeepsItsPageAsLastImported()
    {
        using var app = new NewsletterApp();
        app.WriteNote("kept.md", NoteText("kept-note"));
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/notes/kept-note", TestContext.Current.CancellationToken)).StatusCode);
        app.WriteNote("kept.md", "---\ntitle: [unclosed \"quote\nslug: kept-note\n---\nBroken now.");
        var result = await ImportAsync(app);
        Assert.Equal(0, result.Removed);
        Assert.Contains(result.Errors, e => e.Contains("kept.md", StringComparison.Ordinal) && e.Contains("keeps its last imported version", StringComparison.Ordinal));
        var page = await client.GetAsync("/notes/kept-note", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.DoesNotContain("Broken now", await page.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);

        // Deleted for real, it goes.
        File.Delete(Path.Combine(app.NotesFolder, "kept.md"));
        Assert.Equal(1, (await ImportAsync(app)).Removed);
        Assert.Equal(HttpStatusCode.Gone, (await client.GetAsync("/notes/kept-note", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task ARemovedFileTakesItsNoteOffTheSiteWith410()
    {
        using var app = new NewsletterApp();
        app.WriteNote("gone.md", NoteText("gone-note"));
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/notes/gone-note", TestContext.Current.CancellationToken)).StatusCode);
        File.Delete(Path.Combine(app.NotesFolder, "gone.md"));
        var result = await ImportAsync(app);
        Assert.Equal(1, result.Removed);
        Assert.Equal(HttpStatusCode.Gone, (await client.GetAsync("/notes/gone-note", TestContext.Current.CancellationToken)).StatusCode);
        var list = await client.GetStringAsync("/notes", TestContext.Current.CancellationToken);
        Assert.DoesNotContain("gone-note", list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScriptInANoteFileNeverReachesThePage()
    {
        using var app = new NewsletterApp();
        app.WriteNote("x.md", NoteText("xss-note", body: "<script>alert(1)</script>\n\n[x](javascript:alert(2)) <img src=x onerror=alert(3)>"));
        var html = await app.CreateClient().GetStringAsync("/notes/xss-note", TestContext.Current.CancellationToken);
        Assert.DoesNotContain("alert(1)", html, StringComparison.Ordinal);
        Assert.DoesNotContain("javascript:", html, StringComparison.Ordinal);
        Assert.DoesNotContain("onerror", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExportWritesAdminNotesAsFilesThatTheImporterThenOwns()
    {
        using var app = new NewsletterApp();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var note = new Note { Title = "Written in the admin", Slug = "admin-note", Markdown = "Hello", Html = "<p>Hello</p>", Status = NoteStatus.Published, Date = DateTime.UtcNow.Date };
            note.SetTags(["export"]);
            db.Notes.Add(note);
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
            var written = await scope.ServiceProvider.GetRequiredService<NoteExporter>().ExportAsync(TestContext.Current.CancellationToken);
            Assert.Equal(Path.Combine(app.NotesFolder, "admin-note.md"), Assert.Single(written));
        }

        var result = await ImportAsync(app);
        Assert.Empty(result.Errors);
        Assert.Equal(1, result.Unchanged);
        await using var check = app.Services.CreateAsyncScope();
        var stored = await check.ServiceProvider.GetRequiredService<AppDbContext>().Notes.SingleAsync(n => n.Slug == "admin-note", TestContext.Current.CancellationToken);
        Assert.Equal("admin-note.md", stored.SourcePath);
    }
}
