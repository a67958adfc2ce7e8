using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Archive;

public sealed record IssueNavLink(string Url, string Subject, int? Number);

/// <summary>The web version of an issue: 404 for what was never public, 410 for what was public and is deleted.</summary>
public sealed class IssuePageModel(AppDbContext db, IOptions<SiteOptions> site, Replies.ReplyComments comments, Author.AuthorIdentity author) : PageModel
{
    public IReadOnlyList<Replies.PublicComment> Comments { get; private set; } = [];

    public Issue Issue { get; private set; } = new();

    public DateTime Date { get; private set; }

    public IReadOnlyList<NoteLink> IncludedNotes { get; private set; } = [];

    public IReadOnlyList<string> Tags { get; private set; } = [];

    public IssueNavLink? Newer { get; private set; }

    public IssueNavLink? Older { get; private set; }

    public int ReadingMinutes { get; private set; }

    public string JsonLd { get; private set; } = "";

    public async Task<IActionResult> OnGetAsync(string slug, CancellationToken ct)
    {
        if (slug.Length > 120)
        {
            return NotFound();
        }

        var issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Slug == slug, ct);
        if (issue is null)
        {
            return NotFound();
        }

        if (!issue.IsPublic)
        {
            // Gone only if readers could once have seen it here; a deleted draft or email-only issue never existed on the site.
            var wasPublic = (issue.DeletedAt is not null && issue.PublishedAt is not null && !issue.EmailOnly) || issue.IsWithdrawn;
            return wasPublic ? StatusCode(StatusCodes.Status410Gone) : NotFound();
        }

        Issue = issue;
        var s = site.Value;
        Date = s.ToLocal(issue.PublishedAt!.Value);
        ReadingMinutes = PublicContent.ReadingMinutes(issue.PlainText);
        Comments = await comments.ForIssueAsync(issue.Id, ct);
        Tags = await db.IssueTags.AsNoTracking().Where(t => t.IssueId == issue.Id).Select(t => t.Tag).OrderBy(t => t).ToListAsync(ct);

        // Only notes that are still public are linked: an unpublished note must not reappear through an old issue.
        var included = await db.IssueNotes.AsNoTracking().Where(n => n.IssueId == issue.Id)
            .Join(PublicContent.Notes(db), l => l.NoteId, n => n.Id, (l, n) => new { l.Position, n.Slug, n.Title })
            .ToListAsync(ct);
        IncludedNotes = [.. included.OrderBy(n => n.Position).Select(n => new NoteLink(n.Slug, n.Title))];

        var visible = PublicContent.Issues(db).AsNoTracking();
        var at = issue.PublishedAt;
        Newer = await visible.Where(i => i.PublishedAt > at || (i.PublishedAt == at && i.Id > issue.Id))
            .OrderBy(i => i.PublishedAt).ThenBy(i => i.Id)
            .Select(i => new IssueNavLink("/issues/" + i.Slug, i.Subject, i.Number)).FirstOrDefaultAsync(ct);
        Older = await visible.Where(i => i.PublishedAt < at || (i.PublishedAt == at && i.Id < issue.Id))
            .OrderByDescending(i => i.PublishedAt).ThenByDescending(i => i.Id)
            .Select(i => new IssueNavLink("/issues/" + i.Slug, i.Subject, i.Number)).FirstOrDefaultAsync(ct);

        JsonLd = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["@context"] = "https://schema.org",
            ["@type"] = "Article",
            ["headline"] = issue.Subject,
            ["description"] = issue.Summary,
            ["datePublished"] = issue.PublishedAt.Value.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["dateModified"] = issue.ModifiedAt.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["url"] = s.Absolute(issue.WebPath),
            ["mainEntityOfPage"] = s.Absolute(issue.WebPath),
            ["keywords"] = string.Join(", ", Tags),
            ["wordCount"] = issue.PlainText.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length,
            ["author"] = new Dictionary<string, string> { ["@type"] = "Person", ["name"] = await author.NameAsync(ct), ["url"] = s.Absolute("/about") },
            ["isPartOf"] = new Dictionary<string, string> { ["@type"] = "Periodical", ["name"] = s.Title, ["url"] = s.Absolute("/archive") },
        });
        return Page();
    }
}
