using System.Diagnostics;
using System.Net;
using Newsletter.Testing;

namespace Newsletter.Tests.Content;

/// <summary>
/// A change made in one process (a second node, or a command like import-notes) reaches the cached pages
/// of every other process on the same database within a couple of seconds, not when the cache expires.
/// </summary>
public class ContentChangesTests
{
    /// <summary>Generous for a loaded machine, far below the cache's ten minutes: the watcher looks every second.</summary>
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(6);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ABioAndANoteImportedByTheCommandInAnotherProcessShowOnTheRunningSiteWithinSeconds()
    {
        await using var app = new AppProcess();
        await app.StartAsync();
        using var reader = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
        // Asked twice, so the second answer comes from the output cache that the change must reach.
        foreach (var url in new[] { "/about", "/about", "/notes", "/feeds/notes.atom", "/sitemap.xml" })
        {
            Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(url, Ct)).StatusCode);
        }

        Assert.Contains("Staff engineer in Berlin.", await reader.GetStringAsync("/about", Ct), StringComparison.Ordinal);

        var bio = Path.Combine(app.NotesFolder, "about.md");
        await File.WriteAllTextAsync(bio, (await File.ReadAllTextAsync(bio, Ct)).Replace("Staff engineer in Berlin.", "Principal engineer in Hamburg.", StringComparison.Ordinal), Ct);
        await File.WriteAllTextAsync(Path.Combine(app.NotesFolder, "from-the-shell.md"), Note("Imported from the shell", "from-the-shell"), Ct);
        var (code, output) = await app.RunVerbAsync("import-notes");
        Assert.True(code == 0, output);
        Assert.Contains("1 added, 1 updated", output, StringComparison.Ordinal);

        await ShowsSoonAsync(reader, "/about", "Principal engineer in Hamburg.", app.Log);
        Assert.DoesNotContain("Staff engineer in Berlin.", await reader.GetStringAsync("/about", Ct), StringComparison.Ordinal);
        await ShowsSoonAsync(reader, "/notes", "Imported from the shell", app.Log);
        await ShowsSoonAsync(reader, "/feeds/notes.atom", "Imported from the shell", app.Log);
        await ShowsSoonAsync(reader, "/sitemap.xml", "/notes/from-the-shell", app.Log);
    }

    [Fact]
    public async Task ANotePublishedAndDeletedOnOneNodeAppearsAndVanishesOnTheOther()
    {
        using var nodeA = new NewsletterApp();
        nodeA.WriteNote("old.md", Note("An old note", "an-old-note"));
        var author = nodeA.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        // The second node shares the data folder (one SQLite file) and the notes folder, as two nodes would.
        using var nodeB = new NewsletterApp(nodeA.SecondNode(new() { ["Notes:Folder"] = nodeA.NotesFolder }));
        var reader = nodeB.CreateClient();
        string[] urls = ["/notes", "/tags/shared", "/feeds/notes.json", "/sitemap.xml", "/search?q=nodes"];
        foreach (var url in urls.Concat(urls))
        {
            Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(url, Ct)).StatusCode);
        }

        Assert.DoesNotContain("Written on node A", await reader.GetStringAsync("/notes", Ct), StringComparison.Ordinal);

        var published = await Forms.PostAsync(author, "/admin/notes/new", new Dictionary<string, string>
        {
            ["Input.Title"] = "Written on node A",
            ["Input.Slug"] = "written-on-node-a",
            ["Input.Date"] = "2026-06-01",
            ["Input.Tags"] = "shared",
            ["Input.Summary"] = "",
            ["Input.Markdown"] = "Two nodes share one database.",
            ["intent"] = "publish",
        });
        Assert.Equal(HttpStatusCode.Redirect, published.StatusCode);
        var editUrl = published.Headers.Location!.OriginalString.Split('?')[0];

        foreach (var url in urls)
        {
            await ShowsSoonAsync(reader, url, "/notes/written-on-node-a", nodeB.ServerLog.ToString());
        }

        var deleted = await Forms.PostAsync(author, editUrl + "/delete", new Dictionary<string, string>());
        Assert.Equal(HttpStatusCode.Redirect, deleted.StatusCode);
        var stopwatch = Stopwatch.StartNew();
        while ((await reader.GetAsync("/notes/written-on-node-a", Ct)).StatusCode == HttpStatusCode.OK
            || (await reader.GetStringAsync("/notes", Ct)).Contains("Written on node A", StringComparison.Ordinal))
        {
            Assert.True(stopwatch.Elapsed < Soon, "Node B still shows the note node A deleted. " + nodeB.ServerLog);
            await Task.Delay(100, Ct);
        }
    }

    internal static string Note(string title, string slug) =>
        $"---\ntitle: \"{title}\"\nslug: {slug}\ndate: 2026-05-01\nstatus: published\ntags: [shared]\n---\nA note about nodes, written as a file.\n";

    /// <summary>Asks until the page holds <paramref name="text"/>; fails with what the page said when it does not in time.</summary>
    internal static async Task ShowsSoonAsync(HttpClient client, string url, string text, string log)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            var body = await client.GetStringAsync(url, Ct);
            if (body.Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            Assert.True(stopwatch.Elapsed < Soon, $"{url} did not show '{text}' within {Soon.TotalSeconds} s:\n{body[..Math.Min(body.Length, 2000)]}\nServer log:\n{log}");
            await Task.Delay(100, Ct);
        }
    }
}
