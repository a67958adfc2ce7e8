using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;

namespace Newsletter.Tests.Archive;

/// <summary>Issues written straight into the app's database, the way the sending engine leaves them once sent.</summary>
internal static class ArchiveData
{
    public static async Task<Issue> AddIssueAsync(
        NewsletterApp app,
        int? number,
        string subject,
        DateTime publishedAt,
        string[]? tags = null,
        string? body = null,
        Action<Issue>? configure = null,
        params string[] noteSlugs)
    {
        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var text = body ?? $"The body of {subject}.";
        var issue = new Issue
        {
            Number = number,
            Slug = Slug(subject),
            Subject = subject,
            Summary = $"Summary of {subject}.",
            Markdown = text,
            Html = $"<p>{System.Net.WebUtility.HtmlEncode(text)}</p>",
            PlainText = text,
            Status = IssueStatus.Sent,
            PublishedAt = publishedAt,
            CompletedAt = publishedAt.AddMinutes(5),
            UpdatedAt = publishedAt,
        };
        foreach (var tag in tags ?? [])
        {
            issue.Tags.Add(new IssueTag { Tag = tag });
        }

        configure?.Invoke(issue);
        db.Issues.Add(issue);
        await db.SaveChangesAsync();
        var position = 0;
        foreach (var slug in noteSlugs)
        {
            var noteId = await db.Notes.Where(n => n.Slug == slug).Select(n => n.Id).SingleAsync();
            db.IssueNotes.Add(new IssueNote { IssueId = issue.Id, NoteId = noteId, Position = position++ });
        }

        await db.SaveChangesAsync();
        await scope.ServiceProvider.GetRequiredService<ContentChanges>().IssuesChangedAsync();
        return issue;
    }

    /// <summary>Changes an issue the way the lead's issue code will, then says so, as it will.</summary>
    public static async Task UpdateIssueAsync(NewsletterApp app, int id, Action<Issue> change, bool announce = true)
    {
        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var issue = await db.Issues.SingleAsync(i => i.Id == id);
        change(issue);
        issue.UpdatedAt = DateTime.UtcNow;
        await db.SaveChangesAsync();
        if (announce)
        {
            await scope.ServiceProvider.GetRequiredService<ContentChanges>().IssuesChangedAsync();
        }
    }

    public static async Task ImportNotesAsync(NewsletterApp app)
    {
        using var scope = app.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<Newsletter.Web.Notes.NoteImporter>().ImportAsync();
    }

    public static string Note(string title, string slug, string date, string tags, string body = "Body text.", string status = "published") =>
        $"---\ntitle: \"{title}\"\nslug: {slug}\ndate: {date}\ntags: [{tags}]\nstatus: {status}\nsummary: \"About {title}.\"\n---\n{body}\n";

    public static string Slug(string subject) =>
        string.Join('-', new string([.. subject.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : ' ')]).Split(' ', StringSplitOptions.RemoveEmptyEntries));

    public static DateTime Utc(int year, int month, int day) => new(year, month, day, 9, 0, 0, DateTimeKind.Utc);
}
