using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Issues;

/// <summary>An issue's email as one reader would get it, with the preflight warnings and the audience it would reach now.</summary>
public sealed record IssuePreview(string Subject, string Html, string Text, int HtmlBytes, IReadOnlyList<string> Warnings, int AudienceCount)
{
    /// <summary>Set when there is nothing to render yet (an empty draft); the other fields are then empty.</summary>
    public string? NothingYet { get; init; }
}

/// <summary>Builds the preview the admin's preview page and the API show: the same message the workers build, the same checks.</summary>
public sealed class IssuePreviews(AppDbContext db, IssueMessages messages, Segments.Audiences audiences, IOptions<SiteOptions> site, Images.ImageStore images, IOptions<Images.ImageOptions> imageOptions)
{
    /// <summary>Null when the issue does not exist.</summary>
    public async Task<IssuePreview?> BuildAsync(int id, string recipient, CancellationToken ct)
    {
        var issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (issue is null)
        {
            return null;
        }

        var audience = await audiences.CountAsync(id, ct);
        MimeKit.MimeMessage message;
        try
        {
            var prepared = await messages.PrepareAsync(id, ct);
            (message, _) = messages.Build(prepared, new Recipient(SubscriberTokens.TestReaderId, recipient, null, SubscriberStatus.Active, null), 0);
        }
        catch (Newsletter.Mail.TemplateException e)
        {
            // An empty draft (no subject yet) cannot be rendered; the author is told why instead of seeing a 500.
            return new IssuePreview("", "", "", 0, [$"Nothing to preview yet: {e.Message}"], audience) { NothingYet = e.Message };
        }

        var text = message.TextBody ?? "";
        var html = message.HtmlBody ?? "";
        var published = await db.Notes.AsNoTracking().Where(n => n.Status == Notes.NoteStatus.Published && n.DeletedAt == null).Select(n => "/notes/" + n.Slug).ToListAsync(ct);
        var issues = await PublicIssues.Visible(db).Select(i => "/issues/" + i.Slug).ToListAsync(ct);
        // Its own web version exists from the moment it is sent; "Read it on the web" is not a broken link.
        issues.Add(issue.WebPath);
        // The stored HTML is sanitised already; the Markdown tells which links lost their address on the way.
        var noteIds = await db.IssueNotes.Where(n => n.IssueId == id).Select(n => n.NoteId).ToListAsync(ct);
        var sources = await db.Notes.AsNoTracking().Where(n => noteIds.Contains(n.Id)).Select(n => n.Markdown).ToListAsync(ct);
        var removed = sources.Prepend(issue.Markdown).SelectMany(Content.MarkdownRenderer.RemovedLinks).ToList();
        var warnings = Preflight.Check(html, text, published.Concat(issues).ToHashSet(StringComparer.Ordinal), site.Value.BaseUrl, removed,
            await images.FactsAsync(html, ct), imageOptions.Value);
        return new IssuePreview(message.Subject ?? "", html, text, System.Text.Encoding.UTF8.GetByteCount(html), warnings, audience);
    }
}
