using System.Text.Json;
using AngleSharp.Html.Parser;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Notes;

namespace Newsletter.Tests.Author;

/// <summary>The bio page: sections in the order the front matter names them, old front matter unchanged, and the bio's name as the site's author.</summary>
public class BioTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly HtmlParser Parser = new();

    private static async Task<AngleSharp.Html.Dom.IHtmlDocument> AboutAsync(NewsletterApp app) =>
        await Parser.ParseDocumentAsync(await app.CreateClient().GetStringAsync("/about", Ct));

    private static string[] Kinds(AngleSharp.Html.Dom.IHtmlDocument page) =>
        [.. page.QuerySelectorAll("article.bio > section[data-section-kind]").Select(s => s.GetAttribute("data-section-kind")!)];

    private static string[] Headings(AngleSharp.Html.Dom.IHtmlDocument page) =>
        [.. page.QuerySelectorAll("article.bio > section > h2").Select(h => h.TextContent.Trim())];

    [Fact]
    public async Task ABioWithoutSectionsKeepsTheOldOrderAndHeadings()
    {
        using var app = new NewsletterApp(sampleNotes: true);
        var page = await AboutAsync(app);
        Assert.Equal(["body", "currently", "focus", "timeline", "principles", "newsletter"], Kinds(page));
        Assert.Equal(["Currently", "Focus", "Timeline", "Principles", "About the newsletter"], Headings(page));
        // Focus areas written as bare strings stay a list of titles.
        Assert.Contains("SQLite and PostgreSQL under concurrent load", page.QuerySelectorAll(".focus-list li").Select(li => li.TextContent));
        Assert.NotEmpty(page.QuerySelectorAll(".bio-header .bio-links a"));
        Assert.Single(page.QuerySelectorAll("#subscribe"));
    }

    [Fact]
    public async Task SectionsRenderInTheWrittenOrderWithTheirOwnTitlesAndHostileInputIsDefused()
    {
        using var app = new NewsletterApp();
        app.WriteNote("about.md", """
            ---
            kind: bio
            title: About
            slug: about
            name: "Ada Example"
            headline: "First line."
            tagline: "Second line."
            currently: "Top-level **currently** text."
            timeline:
              - { title: "Top-level phase", period: "2020" }
            sections:
              - kind: call to action
                title: "Start here"
                text: "Read this <script>alert(1)</script> first."
                actions:
                  - { label: "Notes", url: "/notes" }
                  - { label: "Bad", url: "javascript:alert(1)" }
              - kind: focus areas
                title: "What I work on"
                items:
                  - { title: "Evaluation", text: "Sets that **grow** from failures." }
                  - "A bare title"
              - kind: timeline
                title: "Journey"
              - kind: currently
              - kind: markdown
                title: "Free text"
                text: "<img src=x onerror=alert(1)> plain [link](javascript:alert(2))"
              - kind: something from a newer version
                title: "Skipped"
              - kind: body
              - kind: links
                title: "Connect"
                items:
                  - { label: "Site", url: "https://example.org" }
                  - { label: "Evil", url: "javascript:alert(3)" }
            ---
            The body <script>alert(4)</script> text.
            """);
        var page = await AboutAsync(app);

        Assert.Equal(["cta", "focus", "timeline", "currently", "markdown", "body", "links"], Kinds(page));
        Assert.Equal(["Start here", "What I work on", "Journey", "Currently", "Free text", "Connect"], Headings(page));
        Assert.Equal("Second line.", page.QuerySelector(".bio-tagline")?.TextContent);
        Assert.Equal(["Evaluation", "A bare title"], page.QuerySelectorAll(".focus-areas dt").Select(d => d.TextContent));
        Assert.Equal("grow", page.QuerySelector(".focus-areas dd strong")?.TextContent);
        Assert.Equal("Top-level phase", page.QuerySelector(".timeline h3")?.TextContent.Trim());
        Assert.Contains("Top-level currently text.", page.QuerySelector("[data-section-kind=currently]")!.TextContent, StringComparison.Ordinal);
        Assert.Equal(["/notes"], page.QuerySelectorAll(".bio-actions a").Select(a => a.GetAttribute("href")));
        Assert.Equal(["https://example.org"], page.QuerySelectorAll(".bio-links-section a").Select(a => a.GetAttribute("href")));
        // A links section lists the links, so the header does not repeat them.
        Assert.Empty(page.QuerySelectorAll(".bio-header .bio-links"));
        var article = page.QuerySelector("article.bio")!;
        Assert.Empty(article.QuerySelectorAll("script"));
        Assert.DoesNotContain(article.QuerySelectorAll("*"), e => e.Attributes.Any(a => a.Name.StartsWith("on", StringComparison.Ordinal)));
        Assert.DoesNotContain(article.QuerySelectorAll("a"), a => a.GetAttribute("href")?.StartsWith("javascript", StringComparison.OrdinalIgnoreCase) == true);
        // Anchors are unique and taken from the titles.
        var ids = page.QuerySelectorAll("article.bio > section").Select(s => s.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Contains("what-i-work-on", ids);
    }

    [Fact]
    public async Task ACallToActionCanCarryTheSubscribeFormAndThePageDoesNotRepeatIt()
    {
        using var app = new NewsletterApp();
        File.Copy(Path.Combine(RepoPaths.Root, "notes", "examples", "newsletter-about.md"), Path.Combine(app.NotesFolder, "about.md"));
        var page = await AboutAsync(app);
        Assert.Equal(["newsletter", "markdown", "cta", "links"], Kinds(page));
        Assert.Single(page.QuerySelectorAll("form[action='/subscribe']"));
        Assert.NotNull(page.QuerySelector("[data-section-kind=cta] form[action='/subscribe']"));
    }

    [Fact]
    public async Task TheCareerExampleRendersEverySectionInItsOrder()
    {
        using var app = new NewsletterApp();
        File.Copy(Path.Combine(RepoPaths.Root, "notes", "examples", "career-about.md"), Path.Combine(app.NotesFolder, "about.md"));
        var page = await AboutAsync(app);
        Assert.Equal(["body", "timeline", "principles", "focus", "currently", "cta"], Kinds(page));
        Assert.Equal(["Career journey", "How I work", "Technical focus", "Currently", "Read the work"], Headings(page));
        Assert.Equal(4, page.QuerySelectorAll(".timeline > li").Length);
    }

    [Fact]
    public async Task TheBiosNameIsTheAuthorInTheFooterMetaTagsStructuredDataAndEveryFeed()
    {
        using var app = new NewsletterApp(new() { ["Site:AuthorName"] = "Configured Name" });
        app.WriteNote("about.md", """
            ---
            kind: bio
            title: About
            name: "Bio Name"
            ---
            """);
        app.WriteNote("a-note.md", """
            ---
            title: A note
            date: 2026-11-01
            ---
            Text.
            """);
        var client = app.CreateClient();
        foreach (var url in new[] { "/", "/notes/a-note", "/about" })
        {
            var page = await Parser.ParseDocumentAsync(await client.GetStringAsync(url, Ct));
            Assert.Contains("Bio Name", page.QuerySelector(".site-footer")!.TextContent, StringComparison.Ordinal);
            Assert.Equal("Bio Name", page.QuerySelector("meta[name=author]")?.GetAttribute("content"));
            Assert.DoesNotContain("Configured Name", page.DocumentElement.OuterHtml, StringComparison.Ordinal);
        }

        var note = await Parser.ParseDocumentAsync(await client.GetStringAsync("/notes/a-note", Ct));
        var ld = JsonDocument.Parse(note.QuerySelector("script[type='application/ld+json']")!.TextContent);
        Assert.Equal("Bio Name", ld.RootElement.GetProperty("author").GetProperty("name").GetString());

        Assert.Contains("<name>Bio Name</name>", await client.GetStringAsync("/feeds/notes.atom", Ct), StringComparison.Ordinal);
        Assert.Contains("Bio Name", await client.GetStringAsync("/feeds/issues.rss", Ct), StringComparison.Ordinal);
        var json = JsonDocument.Parse(await client.GetStringAsync("/feeds/notes.json", Ct));
        Assert.Equal("Bio Name", json.RootElement.GetProperty("authors")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task WithoutABioTheConfiguredAuthorNameIsUsed()
    {
        using var app = new NewsletterApp(new() { ["Site:AuthorName"] = "Configured Name" });
        var client = app.CreateClient();
        var page = await Parser.ParseDocumentAsync(await client.GetStringAsync("/", Ct));
        Assert.Contains("Configured Name", page.QuerySelector(".site-footer")!.TextContent, StringComparison.Ordinal);
        Assert.Contains("<name>Configured Name</name>", await client.GetStringAsync("/feeds/notes.atom", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMisshapenSectionListStopsTheImportOfThatFileWithItsLineAndExamplesAreNeverImported()
    {
        using var app = new NewsletterApp();
        app.WriteNote("about.md", "---\nkind: bio\ntitle: About\nsections:\n  - kind: timeline\n    items: \"not a list\"\n  - kind: focus\n    items:\n      - [nested, list]\n---\n");
        Directory.CreateDirectory(Path.Combine(app.NotesFolder, "examples"));
        File.Copy(Path.Combine(RepoPaths.Root, "notes", "examples", "career-about.md"), Path.Combine(app.NotesFolder, "examples", "career-about.md"));
        await using var scope = app.Services.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<NoteImporter>().ImportAsync(Ct);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("about.md:4:", error, StringComparison.Ordinal);
        Assert.Contains("sections", error, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await app.CreateClient().GetAsync("/about", Ct)).StatusCode);
    }
}
