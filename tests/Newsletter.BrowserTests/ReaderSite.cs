using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;

namespace Newsletter.BrowserTests;

/// <summary>
/// A running app with the sample notes and a few sent issues, written straight into its SQLite file the
/// way the sending engine leaves them. Seeded before any page is requested, so nothing stale is cached.
/// </summary>
internal static class ReaderSite
{
    public static readonly string[] PublicPages = ["/", "/notes", "/notes/exactly-once-is-a-ledger", "/tags", "/tags/reliability", "/archive", "/issues/exactly-once-and-other-lies", "/about", "/search?q=ledger"];

    public static async Task<AppProcess> StartAsync()
    {
        var app = new AppProcess();
        await app.StartAsync();
        var options = new DbContextOptionsBuilder<AppDbContext>().UseSqlite($"Data Source={Path.Combine(app.DataFolder, "newsletter.db")}").Options;
        await using var db = new AppDbContext(options);
        var notes = await db.Notes.Where(n => n.Slug == "exactly-once-is-a-ledger" || n.Slug == "the-40-ms-stall").OrderBy(n => n.Slug).ToListAsync();
        Issue Make(int number, string subject, string summary, DateTime at, string html, params string[] tags)
        {
            var issue = new Issue
            {
                Number = number,
                Slug = string.Join('-', new string([.. subject.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : ' ')]).Split(' ', StringSplitOptions.RemoveEmptyEntries)),
                Subject = subject,
                Summary = summary,
                Html = html,
                PlainText = System.Text.RegularExpressions.Regex.Replace(html, "<[^>]+>", " "),
                Status = IssueStatus.Sent,
                PublishedAt = at,
                UpdatedAt = at,
            };
            issue.Tags.AddRange(tags.Select(t => new IssueTag { Tag = t }));
            return issue;
        }

        db.Issues.Add(Make(1, "Why this newsletter exists", "What to expect: working notes, once a month, no tracking.", new DateTime(2025, 12, 2, 8, 0, 0, DateTimeKind.Utc),
            "<p>Hello, and thank you for subscribing. This is a newsletter about building systems that fail visibly and lose nothing.</p>", "meta"));
        var big = Make(2, "Exactly once, and other lies", "Why every send is at-least-once, how small the duplicate window is, and the 40 ms stall that hid in our SMTP client.",
            new DateTime(2026, 9, 20, 8, 0, 0, DateTimeKind.Utc),
            "<p>Two notes this month, both about the sending engine behind this very newsletter.</p>" + string.Join("<hr>", notes.Select(n => $"<h2>{n.Title}</h2>{n.Html}")),
            "reliability", "email");
        db.Issues.Add(big);
        db.Issues.Add(Make(3, "Tail latency, honestly", "A web-only extra on measuring p99 without fooling yourself.", new DateTime(2026, 10, 4, 8, 0, 0, DateTimeKind.Utc),
            "<p>This one is only on the web: a long table of latency numbers reads badly in an inbox.</p>", "performance"));
        await db.SaveChangesAsync();
        await db.Issues.Where(i => i.Number == 3).ExecuteUpdateAsync(s => s.SetProperty(i => i.WebOnly, true));
        db.IssueNotes.AddRange(notes.Select((n, i) => new IssueNote { IssueId = big.Id, NoteId = n.Id, Position = i }));
        await db.SaveChangesAsync();
        return app;
    }

    public static BrowserNewPageOptions Desktop(AppProcess app) => new() { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } };

    public static BrowserNewPageOptions Phone(AppProcess app) => new()
    {
        BaseURL = app.BaseUrl,
        ViewportSize = new ViewportSize { Width = 390, Height = 844 },
        DeviceScaleFactor = 2,
        IsMobile = true,
        HasTouch = true,
    };

    public static string ScreenshotName(string url) =>
        url == "/" ? "home" : string.Join('-', url.Trim('/').Split('/', '?', '=')).Replace("issues-", "issue-", StringComparison.Ordinal);
}
