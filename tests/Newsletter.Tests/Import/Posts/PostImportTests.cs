using System.IO.Compression;
using System.Net;
using ImageMagick;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.PostsImport;

namespace Newsletter.Tests.Import.Posts;

public class PostImportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // From the source tree, not the build output: the PostgreSQL test project runs these tests too.
    private static string Sample(string name) => Path.Combine(RepoPaths.Root, "tests", "Newsletter.Tests", "Import", "Posts", "Samples", name);

    /// <summary>The Substack sample folder zipped the way Substack ships it: posts.csv and posts/*.html.</summary>
    private static byte[] SubstackZip()
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            var folder = Sample("substack");
            foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            {
                zip.CreateEntryFromFile(file, Path.GetRelativePath(folder, file).Replace('\\', '/'));
            }
        }

        return buffer.ToArray();
    }

    private static async Task<(ImportPlan Plan, PostImportResult Result)> ImportAsync(NewsletterApp app, string name, byte[] content, PostTarget target)
    {
        using var scope = app.Services.CreateScope();
        var importer = scope.ServiceProvider.GetRequiredService<PostImporter>();
        var plan = await importer.PlanAsync(PostSources.Read(name, content, 50L * 1024 * 1024), target, Ct);
        var result = await importer.CommitAsync(plan, "test", Ct);
        return (plan, result);
    }

    private static async Task<List<Issue>> IssuesAsync(NewsletterApp app)
    {
        using var scope = app.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().Include(i => i.Tags).OrderBy(i => i.PublishedAt).ToListAsync(Ct);
    }

    /// <summary>
    /// Text that reads as Markdown syntax is kept as text: a paragraph starting "2024." was an ordered list starting
    /// at 2024, "+ plus" a bullet, and code holding ``` and ~~~~ both closed its fence early, turning the rest of the
    /// post into code.
    /// </summary>
    [Fact]
    public void TextThatLooksLikeMarkdownSyntaxStaysText()
    {
        var markdown = HtmlToMarkdown.Convert("<p>2024. What a year it was.</p><p>+ plus at the start</p><p>- and a dash</p><pre><code>a ``` b\n~~~~\nc</code></pre><p>After the code.</p>");
        var html = new Newsletter.Web.Content.MarkdownRenderer().Render(markdown).Html;
        Assert.DoesNotContain("<ol", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<ul", html, StringComparison.Ordinal);
        Assert.Contains("2024. What a year it was.", html, StringComparison.Ordinal);
        Assert.Contains("+ plus at the start", html, StringComparison.Ordinal);
        Assert.Matches("<p>After the code.</p>", html);
        Assert.Contains("a ``` b\n~~~~\nc", html, StringComparison.Ordinal);
    }

    /// <summary>
    /// Hostile Ghost bodies (a markup or card index out of range, a node of the wrong kind) give the post an empty
    /// body, which the import reports, instead of failing the whole file with a 500 or an unhandled exception.
    /// </summary>
    [Theory]
    [InlineData("""{"version":"0.3.1","markups":[],"atoms":[],"cards":[],"sections":[[1,"p",[[0,[5],1,"hello"]]]]}""")]
    [InlineData("""{"version":"0.3.1","markups":[],"atoms":[],"cards":[],"sections":[[10,-1]]}""")]
    [InlineData("""{"version":"0.3.1","markups":[["a"]],"atoms":[],"cards":[],"sections":[[1,"p",[[0,[-1],1,"x"]]]]}""")]
    public void AHostileMobiledocBodyIsEmptyNotACrash(string json) => Assert.Equal("", GhostBodies.MobiledocToHtml(json));

    [Theory]
    [InlineData("""{"root":{"children":[1,"x",{"type":"text","text":"t"}]}}""")]
    [InlineData("""{"root":[1,2]}""")]
    [InlineData("""[1,2]""")]
    public void AHostileLexicalBodyIsEmptyNotACrash(string json) => Assert.Equal("", GhostBodies.LexicalToHtml(json));

    [Fact]
    public async Task ASubstackExportBecomesSentIssuesWithTheirDatesSlugsAndNumbersInDateOrder()
    {
        await using var app = new NewsletterApp();
        var (plan, result) = await ImportAsync(app, "export.zip", SubstackZip(), PostTarget.Issues);

        Assert.Equal("Substack", plan.Platform);
        Assert.Equal(2, result.Created);
        // The draft is left out quietly; the podcast is named, since it has no body to bring.
        Assert.Contains(plan.Problems, p => p.Contains("A podcast episode", StringComparison.Ordinal));
        var issues = await IssuesAsync(app);
        Assert.Equal(["why-queues-lie", "retries-with-budgets"], issues.Select(i => i.Slug));
        Assert.Equal([1, 2], issues.Select(i => i.Number));
        Assert.All(issues, i => Assert.Equal(IssueStatus.Sent, i.Status));
        Assert.Equal(new DateTime(2024, 3, 5, 9, 30, 0), issues[0].PublishedAt);
        Assert.Equal("About depth, age, and the one number that matters", issues[0].Summary);
        Assert.Contains("## What to measure", issues[0].Markdown, StringComparison.Ordinal);
        Assert.Contains("- The age of the oldest message", issues[0].Markdown, StringComparison.Ordinal);
        Assert.Contains("[by Little's law](<https://example.com/littles-law>)", issues[0].Markdown, StringComparison.Ordinal);
        Assert.Contains("> Measure the wait, not the pile.", issues[0].Markdown, StringComparison.Ordinal);
        Assert.Contains("```sql\nSELECT min(enqueued_at) FROM jobs;\n```", issues[0].Markdown, StringComparison.Ordinal);
        Assert.Contains("**depth**", issues[0].Markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("Subscribe", issues[0].Markdown, StringComparison.Ordinal);
        Assert.Contains("1. Back off", issues[1].Markdown, StringComparison.Ordinal);

        var page = await app.CreateClient().GetStringAsync("/issues/why-queues-lie", Ct);
        Assert.Contains("<h2", page, StringComparison.Ordinal);
        Assert.Contains("Measure the wait", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGhostExportWithHtmlLexicalAndMobiledocBodiesBecomesNoteFiles()
    {
        await using var app = new NewsletterApp();
        var (plan, result) = await ImportAsync(app, "ghost.json", await File.ReadAllBytesAsync(Sample("ghost.json"), Ct), PostTarget.Notes);

        Assert.Equal("Ghost", plan.Platform);
        Assert.Equal(3, result.Created);
        Assert.Empty(result.Problems);
        var html = await File.ReadAllTextAsync(Path.Combine(app.NotesFolder, "idempotency-keys.md"), Ct);
        Assert.StartsWith("---\ntitle: \"Idempotency keys in practice\"\nslug: idempotency-keys\ndate: 2023-11-20\ntags: [reliability]\nstatus: published\nsummary: \"Keys, storage and expiry.\"\n---\n", html, StringComparison.Ordinal);
        Assert.Contains("### Storage", html, StringComparison.Ordinal);
        var lexical = await File.ReadAllTextAsync(Path.Combine(app.NotesFolder, "backpressure.md"), Ct);
        Assert.Contains("Say **no** early.", lexical, StringComparison.Ordinal);
        Assert.Contains("- `429`", lexical, StringComparison.Ordinal);
        Assert.Contains("[queue age](<https://example.com/queues>)", lexical, StringComparison.Ordinal);
        var mobiledoc = await File.ReadAllTextAsync(Path.Combine(app.NotesFolder, "mobiledoc-post.md"), Ct);
        Assert.Contains("[a link](<https://example.com/m>)", mobiledoc, StringComparison.Ordinal);
        Assert.Contains("*emphasis*", mobiledoc, StringComparison.Ordinal);
        Assert.Contains("A *markdown* card.", mobiledoc, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(app.NotesFolder, "about.md")));
        Assert.False(File.Exists(Path.Combine(app.NotesFolder, "draft.md")));

        var client = app.CreateClient();
        var note = await client.GetStringAsync("/notes/backpressure", Ct);
        Assert.Contains("<strong>no</strong>", note, StringComparison.Ordinal);
    }

    /// <summary>An Atom title marked as HTML is read as text: its tags go and its entities are read, in the post and the feed's name.</summary>
    [Fact]
    public void AnAtomTitleInHtmlIsReadAsText()
    {
        var atom = """
            <?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom">
              <title type="html">Notes &amp;amp; &lt;em&gt;drafts&lt;/em&gt;</title><id>urn:f</id><updated>2024-10-01T00:00:00Z</updated>
              <entry><title type="html">Ledgers &lt;em&gt;and&lt;/em&gt;
                leases &amp;amp; locks</title><id>urn:1</id><link href="https://example.org/ledgers"/>
                <updated>2024-10-01T00:00:00Z</updated><content type="html">&lt;p&gt;Body&lt;/p&gt;</content></entry>
            </feed>
            """;
        var source = PostSources.Read("feed.xml", System.Text.Encoding.UTF8.GetBytes(atom), 1 << 20);
        Assert.Equal("Ledgers and leases & locks", Assert.Single(source.Posts).Title);
        Assert.Equal("Feed (Notes & drafts)", source.Platform);
    }

    [Theory]
    [InlineData("feed.rss.xml", "timeouts-everywhere", "Timeouts everywhere", "2024-09-10")]
    [InlineData("feed.atom.xml", "load-shedding", "Load shedding", "2024-10-01")]
    public async Task RssAndAtomFeedsImportWithSlugsFromTheirLinks(string file, string slug, string title, string date)
    {
        await using var app = new NewsletterApp();
        var (_, result) = await ImportAsync(app, file, await File.ReadAllBytesAsync(Sample(file), Ct), PostTarget.Issues);

        Assert.True(result.Created >= 1);
        var issue = (await IssuesAsync(app)).Single(i => i.Slug == slug);
        Assert.Equal(title, issue.Subject);
        Assert.Equal(date, issue.PublishedAt!.Value.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("*", issue.Markdown, StringComparison.Ordinal);
        if (file.StartsWith("feed.rss", StringComparison.Ordinal))
        {
            // An item with only an HTML description, and a link ending in .html.
            Assert.Contains("**remaining**", (await IssuesAsync(app)).Single(i => i.Slug == "deadlines-propagate").Markdown, StringComparison.Ordinal);
            Assert.Equal(["reliability"], issue.Tags.Select(t => t.Tag));
        }
    }

    [Fact]
    public async Task HostileHtmlLosesScriptsHandlersAndJavascriptLinks()
    {
        const string hostile = """
            <p onclick="steal()">Hello <a href="javascript:alert(1)">click</a> and <a href=" JaVaScRiPt:alert(2)">again</a>
            <img src="x" onerror="alert(3)"><img src="data:image/png;base64,AAAA" alt="data"></p>
            <script>alert(4)</script><style>body{display:none}</style><iframe src="https://evil.example/"></iframe>
            <p>Raw &lt;script&gt;alert(5)&lt;/script&gt; as text, <unknown-tag>kept as text</unknown-tag>, <a href="https://ok.example/">fine</a>.</p>
            """;
        var markdown = HtmlToMarkdown.Convert(hostile);
        Assert.DoesNotContain("javascript", markdown, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("onerror", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("alert(4)", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("display:none", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.example", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("data:", markdown, StringComparison.Ordinal);
        Assert.Contains("kept as text", markdown, StringComparison.Ordinal);
        Assert.Contains("[fine](<https://ok.example/>)", markdown, StringComparison.Ordinal);

        await using var app = new NewsletterApp();
        var feed = $"""
            <rss version="2.0"><channel><title>t</title><link>https://h.example/</link><description>d</description>
            <item><title>&lt;script&gt;alert(6)&lt;/script&gt;Hostile</title><link>https://h.example/hostile</link><pubDate>Tue, 10 Sep 2024 06:00:00 GMT</pubDate>
            <description><![CDATA[{hostile}]]></description></item></channel></rss>
            """;
        await ImportAsync(app, "hostile.xml", System.Text.Encoding.UTF8.GetBytes(feed), PostTarget.Issues);
        var page = await app.CreateClient().GetStringAsync("/issues/hostile", Ct);
        Assert.DoesNotContain("<script>alert", page, StringComparison.Ordinal);
        Assert.DoesNotContain("javascript:alert", page, StringComparison.Ordinal);
        Assert.DoesNotContain("onerror=", page, StringComparison.Ordinal);
        Assert.DoesNotContain("onclick=", page, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(5)", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFileOverTheLimitIsRefusedWithAClearError()
    {
        await using var app = new NewsletterApp(new() { ["PostImport:MaxFileMegabytes"] = "1" });
        var path = Path.Combine(app.Root, "huge.xml");
        await File.WriteAllBytesAsync(path, new byte[(2 * 1024 * 1024) + 10], Ct);
        using var scope = app.Services.CreateScope();
        var files = scope.ServiceProvider.GetRequiredService<PostImportFiles>();

        var e = await Assert.ThrowsAsync<PostImportException>(() => files.LoadAsync(path, Ct));
        Assert.Equal("huge.xml is 2 MB; the limit is 1 MB (PostImport:MaxFileMegabytes).", e.Message);
        var inMemory = Assert.Throws<PostImportException>(() => PostSources.Read("big.json", new byte[(2 * 1024 * 1024) + 10], files.MaxBytes));
        Assert.Contains("the limit is 1 MB", inMemory.Message, StringComparison.Ordinal);

        // The admin page says the same.
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var token = await Forms.TokenAsync(client, "/admin/posts/import");
        using var form = new MultipartFormDataContent
        {
            { new StringContent(token), "__RequestVerificationToken" },
            { new StringContent("issues"), "target" },
            { new ByteArrayContent(new byte[(2 * 1024 * 1024) + 10]), "file", "huge.xml" },
        };
        var html = await (await client.PostAsync("/admin/posts/import?handler=Preview", form, Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("huge.xml is 2 MB; the limit is 1 MB", html, StringComparison.Ordinal);
    }

    /// <summary>
    /// The admin page's address box takes a feed's web address only: a server path typed into it read the server's
    /// files as the app's user (an editor could publish one as an issue), and /dev/zero filled the memory.
    /// </summary>
    [Fact]
    public async Task TheAdminPageReadsNoServerFileAndTheVerbReadsNoEndlessOne()
    {
        await using var app = new NewsletterApp(new() { ["PostImport:MaxFileMegabytes"] = "1" });
        var secret = Path.Combine(app.Root, "private-feed.xml");
        await File.WriteAllTextAsync(secret, System.Text.Encoding.UTF8.GetString(Feed("<p>SECRET-BODY</p>")).Replace("<title>Pictures</title>", "<title>SECRET-TITLE</title>", StringComparison.Ordinal), Ct);
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        foreach (var address in new[] { secret, "file://" + secret, "/dev/zero", "/etc/nonexistent" })
        {
            var token = await Forms.TokenAsync(client, "/admin/posts/import");
            using var form = new MultipartFormDataContent
            {
                { new StringContent(token), "__RequestVerificationToken" },
                { new StringContent("issues"), "target" },
                { new StringContent(address), "url" },
            };
            var response = await client.PostAsync("/admin/posts/import?handler=Preview", form, Ct);
            var html = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("A feed's address starts with https://", html, StringComparison.Ordinal);
            Assert.DoesNotContain("SECRET-TITLE", html, StringComparison.Ordinal);
            Assert.DoesNotContain("no such file", html, StringComparison.Ordinal);
        }

        // The command-line verb (run by whoever runs the server) still reads paths, but counts what it reads.
        using var scope = app.Services.CreateScope();
        var files = scope.ServiceProvider.GetRequiredService<PostImportFiles>();
        var endless = await Assert.ThrowsAsync<PostImportException>(() => files.LoadAsync("/dev/zero", Ct));
        Assert.Contains("over the limit of 1 MB", endless.Message, StringComparison.Ordinal);
    }

    /// <summary>A preview nobody imported goes once it is older than a day (each new preview clears them), a fresh one stays.</summary>
    [Fact]
    public async Task AbandonedPreviewsAreCleared()
    {
        await using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var files = scope.ServiceProvider.GetRequiredService<PostImportFiles>();
        var stored = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.Providers.ImportFiles>();
        var abandoned = await files.KeepAsync("old.xml", [1, 2, 3], Ct);
        await stored.PurgeAsync("posts/", PostImportFiles.PreviewLifetime, Ct);
        Assert.NotNull(await files.TakeAsync(abandoned, remove: false, Ct));
        await Task.Delay(50, Ct); // the clock moves on, so "older than now" holds on a coarse file-time clock too
        await stored.PurgeAsync("posts/", TimeSpan.Zero, Ct);
        Assert.Null(await files.TakeAsync(abandoned, remove: false, Ct));
        Assert.NotNull(await files.TakeAsync(await files.KeepAsync("new.xml", [4], Ct), remove: false, Ct));
    }

    /// <summary>Notes are files: where the app can't write them (a service's read-only notes/), it says so before anything is taken or written.</summary>
    [Fact]
    public async Task ImportingAsNotesWhereTheyCannotBeWrittenSaysSoBeforehand()
    {
        var blocked = Path.Combine(RepoPaths.TempDir("notes-blocked"), "notes");
        await File.WriteAllTextAsync(blocked, "a file where the notes folder should be", Ct);
        await using var app = new NewsletterApp(new() { ["Notes:Folder"] = blocked, ["Notes:ImportOnStartup"] = "false" });
        await using var scope = app.Services.CreateAsyncScope();
        var importer = scope.ServiceProvider.GetRequiredService<PostImporter>();
        Assert.Null(importer.CannotWrite(PostTarget.Issues));
        Assert.Contains($"can't write notes into {blocked}", importer.CannotWrite(PostTarget.Notes), StringComparison.Ordinal);
        var plan = await importer.PlanAsync(PostSources.Read("feed.rss.xml", await File.ReadAllBytesAsync(Sample("feed.rss.xml"), Ct), 1 << 20), PostTarget.Notes, Ct);
        await Assert.ThrowsAsync<PostImportException>(() => importer.CommitAsync(plan, "test", Ct));
    }

    [Fact]
    public async Task ATakenSlugGetsASuffixAndThePreviewSaysSo()
    {
        await using var app = new NewsletterApp();
        await Archive.ArchiveData.AddIssueAsync(app, 7, "Why queues lie", new DateTime(2025, 1, 1, 9, 0, 0, DateTimeKind.Utc));
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);

        var token = await Forms.TokenAsync(client, "/admin/posts/import");
        using var form = new MultipartFormDataContent
        {
            { new StringContent(token), "__RequestVerificationToken" },
            { new StringContent("issues"), "target" },
            { new ByteArrayContent(SubstackZip()), "file", "export.zip" },
        };
        var preview = await (await client.PostAsync("/admin/posts/import?handler=Preview", form, Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("slug 'why-queues-lie' is taken: imported as 'why-queues-lie-2'", WebUtility.HtmlDecode(preview), StringComparison.Ordinal);
        Assert.Contains("Retries, with budgets", preview, StringComparison.Ordinal);
        Assert.Contains("2024-03-05", preview, StringComparison.Ordinal);
        // Nothing changes until the author imports.
        Assert.Single(await IssuesAsync(app));

        var importToken = System.Text.RegularExpressions.Regex.Match(preview, "name=\"token\" value=\"([0-9a-f]{32})\"").Groups[1].Value;
        // A double click: two imports of one preview at once. One imports, the other is told it was imported already.
        var clicks = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ =>
            Forms.PostAsync(client, "/admin/posts/import", new Dictionary<string, string> { ["token"] = importToken, ["target"] = "issues" }, "/admin/posts/import?handler=Import")));
        Assert.All(clicks, c => Assert.Equal(HttpStatusCode.OK, c.StatusCode));
        var pages = await Task.WhenAll(clicks.Select(c => c.Content.ReadAsStringAsync(Ct)));
        Assert.Single(pages, p => p.Contains("2 imported as issues", StringComparison.Ordinal));
        Assert.Single(pages, p => p.Contains("That preview has expired or was already imported", StringComparison.Ordinal));
        var issues = await IssuesAsync(app);
        Assert.Equal(["why-queues-lie-2", "retries-with-budgets", "why-queues-lie"], issues.Select(i => i.Slug));
        // The site already numbered an issue: imported ones are not given numbers that would renumber history.
        Assert.Equal([null, null, 7], issues.Select(i => i.Number));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/issues/why-queues-lie-2", Ct)).StatusCode);
    }

    [Fact]
    public async Task ImagesAreCopiedFromAServerIntoTheImageStoreAndAFailedOneIsReportedNotFatal()
    {
        await using var images = await ImageServer.StartAsync();
        await using var app = new NewsletterApp(new() { ["PostImport:AllowPrivateAddresses"] = "true" });
        var feed = Feed($"""<p>A picture: <img src="{images.Url}/pic.png" alt="red" srcset="{images.Url}/pic-2x.png 2x"></p><p>A lost one: <img src="{images.Url}/missing.png"></p>""");

        var (_, result) = await ImportAsync(app, "feed.xml", feed, PostTarget.Issues);

        Assert.Equal(1, result.Created);
        Assert.Equal(1, result.ImagesStored);
        var problem = Assert.Single(result.Problems);
        Assert.Contains("missing.png", problem, StringComparison.Ordinal);
        Assert.Contains("404", problem, StringComparison.Ordinal);
        var issue = Assert.Single(await IssuesAsync(app));
        var stored = System.Text.RegularExpressions.Regex.Match(issue.Markdown, "!\\[red\\]\\(<(/media/[0-9a-f]{64}\\.png)>\\)").Groups[1].Value;
        Assert.NotEmpty(stored);
        Assert.Contains($"{images.Url}/missing.png", issue.Markdown, StringComparison.Ordinal);
        var response = await app.CreateClient().GetAsync(stored, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var picture = new MagickImage(await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(40u, picture.Width);
    }

    [Fact]
    public async Task ImagesAndFeedsOnPrivateOrLoopbackAddressesAreRefused()
    {
        await using var images = await ImageServer.StartAsync();
        await using var app = new NewsletterApp();
        var localhost = images.Url.Replace("127.0.0.1", "localhost", StringComparison.Ordinal);
        var feed = Feed($"""<p><img src="{images.Url}/pic.png"><img src="{localhost}/pic.png"><img src="http://169.254.169.254/latest/meta-data/"><img src="file:///etc/passwd"><img src="ftp://example.com/x.png"></p>""");

        var (_, result) = await ImportAsync(app, "feed.xml", feed, PostTarget.Issues);

        Assert.Equal(1, result.Created);
        Assert.Equal(0, result.ImagesStored);
        Assert.Equal(3, result.Problems.Count(p => p.Contains("private or local address", StringComparison.Ordinal)));
        Assert.Equal(0, images.Requests);
        using var scope = app.Services.CreateScope();
        var e = await Assert.ThrowsAsync<PostImportException>(() => scope.ServiceProvider.GetRequiredService<PostImportFiles>().LoadAsync(localhost + "/feed.xml", Ct));
        Assert.Contains("private or local address", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, images.Requests);
        Assert.False(SafeDownloader.IsPublic(IPAddress.Parse("10.1.2.3")));
        Assert.False(SafeDownloader.IsPublic(IPAddress.Parse("::ffff:192.168.1.1")));
        Assert.False(SafeDownloader.IsPublic(IPAddress.Parse("fd00::1")));
        Assert.True(SafeDownloader.IsPublic(IPAddress.Parse("93.184.216.34")));
    }

    /// <summary>
    /// Untitled posts of one day (a micro-blog, a Mastodon feed) are different posts: all are imported, and a
    /// second run finds each of them there. Before, all but the first were "already imported" on a site without them.
    /// </summary>
    [Fact]
    public async Task PostsThatShareATitleAndADayAreAllImportedOnce()
    {
        await using var app = new NewsletterApp();
        var feed = System.Text.Encoding.UTF8.GetBytes("""
            <?xml version="1.0" encoding="utf-8"?>
            <rss version="2.0"><channel><title>Micro</title><link>https://micro.example/</link>
            <item><link>https://micro.example/posts/143000/</link><pubDate>Thu, 07 Mar 2024 14:30:00 GMT</pubDate><description>First thought of the day.</description></item>
            <item><link>https://micro.example/posts/151500/</link><pubDate>Thu, 07 Mar 2024 15:15:00 GMT</pubDate><description>A second one.</description></item>
            <item><title>Weekly notes</title><link>https://micro.example/posts/weekly-a/</link><pubDate>Fri, 08 Mar 2024 09:00:00 GMT</pubDate><description>Week A.</description></item>
            <item><title>Weekly notes</title><link>https://micro.example/posts/weekly-b/</link><pubDate>Fri, 08 Mar 2024 18:00:00 GMT</pubDate><description>Week B.</description></item>
            <item><title>Weekly notes</title><link>https://micro.example/posts/weekly-b/</link><pubDate>Fri, 08 Mar 2024 18:00:00 GMT</pubDate><description>Week B.</description></item>
            </channel></rss>
            """);
        var (plan, result) = await ImportAsync(app, "feed.xml", feed, PostTarget.Notes);
        Assert.Equal(4, plan.Posts.Count(p => p.Action != PlannedAction.AlreadyImported));
        Assert.Equal(4, result.Created);

        var (again, second) = await ImportAsync(app, "feed.xml", feed, PostTarget.Notes);
        Assert.All(again.Posts, p => Assert.Equal(PlannedAction.AlreadyImported, p.Action));
        Assert.Equal(0, second.Created);
    }

    /// <summary>
    /// A note's date is the author's day, as one written here is: the same post imported as an issue said 1 January
    /// and as a note 31 December. And a link's name is its slug as a reader sees it, not its escapes or "index".
    /// </summary>
    [Fact]
    public async Task ANoteIsDatedByTheAuthorsDayAndNamedByItsLinkAsAReaderSeesIt()
    {
        await using var app = new NewsletterApp(new() { ["Site:TimeZone"] = "Europe/Berlin" });
        var feed = System.Text.Encoding.UTF8.GetBytes("""
            <?xml version="1.0" encoding="utf-8"?>
            <rss version="2.0"><channel><title>Blog</title><link>https://blog.example/</link><description>d</description>
            <item><title>New year</title><link>https://blog.example/posts/%C3%BCber-alles/</link><pubDate>Mon, 01 Jan 2024 00:30:00 +0100</pubDate><description>First.</description></item>
            <item><title>Alpha</title><link>https://blog.example/posts/alpha/index.html</link><pubDate>Tue, 02 Jan 2024 12:00:00 GMT</pubDate><description>Second.</description></item>
            </channel></rss>
            """);
        var (plan, result) = await ImportAsync(app, "feed.xml", feed, PostTarget.Notes);
        Assert.Equal(2, result.Created);

        var newYear = plan.Posts.Single(p => p.Post.Title == "New year");
        Assert.Equal(new DateTime(2024, 1, 1), newYear.Day);
        Assert.Contains("date: 2024-01-01\n", await File.ReadAllTextAsync(Path.Combine(app.NotesFolder, newYear.Slug + ".md"), Ct), StringComparison.Ordinal);
        Assert.EndsWith("ber-alles", newYear.Slug, StringComparison.Ordinal);
        Assert.DoesNotContain("c3", newYear.Slug, StringComparison.Ordinal);
        Assert.Equal("alpha", plan.Posts.Single(p => p.Post.Title == "Alpha").Slug);

        var (again, _) = await ImportAsync(app, "feed.xml", feed, PostTarget.Notes);
        Assert.All(again.Posts, p => Assert.Equal(PlannedAction.AlreadyImported, p.Action));
    }

    [Fact]
    public async Task RunningTheSameImportAgainAddsNothing()
    {
        await using var app = new NewsletterApp();
        var zip = SubstackZip();
        await ImportAsync(app, "export.zip", zip, PostTarget.Issues);
        var (plan, again) = await ImportAsync(app, "export.zip", zip, PostTarget.Issues);

        Assert.All(plan.Posts, p => Assert.Equal(PlannedAction.AlreadyImported, p.Action));
        Assert.Equal(0, again.Created);
        Assert.Equal(2, again.Skipped);
        Assert.Equal(2, (await IssuesAsync(app)).Count);

        var ghost = await File.ReadAllBytesAsync(Sample("ghost.json"), Ct);
        await ImportAsync(app, "ghost.json", ghost, PostTarget.Notes);
        var (_, notesAgain) = await ImportAsync(app, "ghost.json", ghost, PostTarget.Notes);
        Assert.Equal(0, notesAgain.Created);
        Assert.Equal(3, Directory.GetFiles(app.NotesFolder, "*.md").Length);
    }

    [Fact]
    public async Task PostsThatWereNotPublicThereOrHaveNoReadableDateAreNamedAndSkippedNotGivenAwayOrCrashing()
    {
        await using var app = new NewsletterApp();

        // Substack: a post for paying readers would be public here.
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, string text)
            {
                using var writer = new StreamWriter(zip.CreateEntry(name).Open());
                writer.Write(text);
            }

            Add("posts.csv", "post_id,post_date,is_published,type,audience,title,subtitle\n"
                + "1.open-post,2024-03-05T09:30:00.000Z,true,newsletter,everyone,Open post,\n"
                + "2.paid-post,2024-04-12T08:00:00.000Z,true,newsletter,only_paid,Paid post,\n");
            Add("posts/1.open-post.html", "<p>For everyone.</p>");
            Add("posts/2.paid-post.html", "<p>For paying readers only.</p>");
        }

        var (substack, _) = await ImportAsync(app, "export.zip", buffer.ToArray(), PostTarget.Issues);
        Assert.Equal(["open-post"], (await IssuesAsync(app)).Select(i => i.Slug));
        Assert.Contains(substack.Problems, p => p.Contains("“Paid post” is for only paid readers on Substack", StringComparison.Ordinal));

        // Ghost: members' and paid posts, one sent by email only, and one whose image is at __GHOST_URL__.
        var ghost = System.Text.Encoding.UTF8.GetBytes("""
            {"db":[{"data":{"posts":[
              {"id":"a","title":"Public","slug":"public","status":"published","visibility":"public","published_at":"2024-01-01T00:00:00.000Z","html":"<p>Hello.</p>"},
              {"id":"b","title":"Members","slug":"members","status":"published","visibility":"members","published_at":"2024-01-02T00:00:00.000Z","html":"<p>Members.</p>"},
              {"id":"c","title":"Paid","slug":"paid","status":"published","visibility":"paid","published_at":"2024-01-03T00:00:00.000Z","html":"<p>Paid.</p>"},
              {"id":"d","title":"Mailed","slug":"mailed","status":"sent","visibility":"public","published_at":"2024-01-04T00:00:00.000Z","html":"<p>Mail.</p>"},
              {"id":"e","title":"Chart","slug":"chart","status":"published","visibility":"public","published_at":"2024-01-05T00:00:00.000Z","html":"<p>See <a href=\"__GHOST_URL__/public/\">this</a>.</p><figure><img src=\"__GHOST_URL__/content/images/2024/01/chart.png\"></figure>"}
            ]}}]}
            """);
        var (ghostPlan, _) = await ImportAsync(app, "ghost.json", ghost, PostTarget.Notes);
        Assert.Equal(["chart", "public"], ghostPlan.Posts.Select(p => p.Slug).Order());
        Assert.Contains(ghostPlan.Problems, p => p.Contains("“Members” is for members readers on Ghost", StringComparison.Ordinal));
        Assert.Contains(ghostPlan.Problems, p => p.Contains("“Paid” is for paid readers on Ghost", StringComparison.Ordinal));
        Assert.Contains(ghostPlan.Problems, p => p.Contains("“Mailed” is sent on Ghost (by email only", StringComparison.Ordinal));
        Assert.Contains(ghostPlan.Problems, p => p.Contains("“Chart”: 2 image(s) or link(s) point at __GHOST_URL__", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(app.NotesFolder, "paid.md")));

        // A feed with a date its format does not allow, and an item with none: the rest imports, those two are named.
        var feed = System.Text.Encoding.UTF8.GetBytes("""
            <rss version="2.0"><channel><title>t</title><link>https://p.example/</link><description>d</description>
            <item><title>German date</title><link>https://p.example/german</link><pubDate>Donnerstag, 07 Mär 2024</pubDate><description>a</description></item>
            <item><title>No date</title><link>https://p.example/none</link><description>b</description></item>
            <item><title>Good date</title><link>https://p.example/good</link><pubDate>Thu, 07 Mar 2024 10:00:00 EST</pubDate><description>c</description></item>
            </channel></rss>
            """);
        var (feedPlan, feedResult) = await ImportAsync(app, "feed.xml", feed, PostTarget.Issues);
        Assert.Equal(1, feedResult.Created);
        Assert.Equal("2024-03-07T15:00:00", (await IssuesAsync(app)).Single(i => i.Slug == "good").PublishedAt!.Value.ToString("s", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains(feedPlan.Problems, p => p.Contains("“German date” has no date this site can read (the feed's dates include 'Donnerstag, 07 Mär 2024'", StringComparison.Ordinal));
        Assert.Contains(feedPlan.Problems, p => p.Contains("“No date” has no date this site can read", StringComparison.Ordinal));
    }

    private static byte[] Feed(string html) => System.Text.Encoding.UTF8.GetBytes($"""
        <rss version="2.0"><channel><title>t</title><link>https://p.example/</link><description>d</description>
        <item><title>Pictures</title><link>https://p.example/pictures</link><pubDate>Tue, 10 Sep 2024 06:00:00 GMT</pubDate>
        <description><![CDATA[{html}]]></description></item></channel></rss>
        """);

    /// <summary>A real HTTP server on loopback that serves one PNG and counts what it is asked.</summary>
    private sealed class ImageServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _requests;

        private ImageServer(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        public int Requests => _requests;

        public static async Task<ImageServer> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var server = new ImageServer(app);
            using var red = new MagickImage(MagickColors.Red, 40, 20);
            var png = red.ToByteArray(MagickFormat.Png);
            app.Use(async (context, next) =>
            {
                Interlocked.Increment(ref server._requests);
                await next(context);
            });
            app.MapGet("/pic.png", () => Results.Bytes(png, "image/png"));
            await app.StartAsync();
            server.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
            return server;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
