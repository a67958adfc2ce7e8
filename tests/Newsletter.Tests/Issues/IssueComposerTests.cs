using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Issues;

namespace Newsletter.Tests.Issues;

public class IssueComposerTests
{
    [Fact]
    public async Task SiteRelativeLinksAndImagesBecomeAbsoluteSoTheyWorkFromAnInbox()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var issue = new Issue
        {
            Subject = "Links",
            Markdown = "See [the note](/notes/sqlite-in-production), ![a chart](/media/chart.png), [elsewhere](https://example.org/x), [a footnote](#fn1) and [protocol-relative](//cdn.example/x).",
        };

        await scope.ServiceProvider.GetRequiredService<IssueComposer>().ComposeAsync(issue, TestContext.Current.CancellationToken);

        Assert.Contains("href=\"http://localhost/notes/sqlite-in-production\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("src=\"http://localhost/media/chart.png\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"https://example.org/x\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"#fn1\"", issue.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("localhost//cdn", issue.Html, StringComparison.Ordinal);
        Assert.Contains("alt=\"a chart\"", issue.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EachIncludedNoteKeepsItsOwnFootnotesOnTheWebAndInTheEmail()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.AppDbContext>();
        var renderer = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Content.MarkdownRenderer>();
        var notes = new[] { "first", "second" }.Select(slug => new Newsletter.Web.Notes.Note
        {
            Title = slug, Slug = "fn-" + slug, Markdown = $"The {slug} claim.[^1]\n\n[^1]: The {slug} source.",
            Html = renderer.Render($"The {slug} claim.[^1]\n\n[^1]: The {slug} source.").Html, Status = Newsletter.Web.Notes.NoteStatus.Published,
        }).ToList();
        db.Notes.AddRange(notes);
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        var issue = new Issue { Subject = "Two notes", Markdown = "Intro with its own note.[^1]\n\n[^1]: The intro's source." };
        issue.Notes.AddRange(notes.Select((n, i) => new IssueNote { NoteId = n.Id, Position = i }));

        await scope.ServiceProvider.GetRequiredService<IssueComposer>().ComposeAsync(issue, TestContext.Current.CancellationToken);

        var ids = System.Text.RegularExpressions.Regex.Matches(issue.Html, "id=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Contains("href=\"#note1-fn:1\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("id=\"note2-fn:1\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"#fn:1\"", issue.Html, StringComparison.Ordinal);
        // Every in-page link points at an id that exists, once.
        foreach (var target in System.Text.RegularExpressions.Regex.Matches(issue.Html, "href=\"#([^\"]+)\"").Select(m => m.Groups[1].Value))
        {
            Assert.Single(ids, target);
        }
    }
}
