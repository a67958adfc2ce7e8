using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Archive;

/// <summary>What readers may see, in one place, so pages, feeds, search and the sitemap agree.</summary>
public static class PublicContent
{
    /// <summary>
    /// The list page a ?page= value asks for: what a page renders and what both caches key it by, so "abc",
    /// "+2" and "02" are pages 1, 2 and 2 for both, never entries of their own that fill the cache.
    /// </summary>
    public static int PageOf(string? raw) =>
        int.TryParse(raw, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var page) ? page : 1;

    /// <summary>The cache key's form of <see cref="PageOf"/>.</summary>
    public static string PageKey(string? raw) => PageOf(raw).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Published working notes (the bio note is the about page, not a note in lists).</summary>
    public static IQueryable<Note> Notes(AppDbContext db) =>
        db.Notes.Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null);

    /// <summary>
    /// Issues on the site. Email-only issues have no web version: they are never searched, put in a feed or
    /// the sitemap, and their address answers 404; /archive names them by number, date and subject only.
    /// Web-only issues are listed like any other, with a "web only" mark.
    /// </summary>
    public static IQueryable<Issue> Issues(AppDbContext db) => PublicIssues.Visible(db);

    public static int ReadingMinutes(string plainText) =>
        Math.Max(1, (int)Math.Round(plainText.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length / 230.0));

    /// <summary>
    /// The latest moment any note or issue changed, was published or was deleted: the Last-Modified of
    /// every public page, since lists, tags and previous/next links all move when any one item does.
    /// </summary>
    public static async Task<DateTime> LastChangedAsync(AppDbContext db, CancellationToken ct)
    {
        // One row per table (or none when it is empty); ToList, not FirstOrDefault, which EF warns about without an OrderBy.
        var notes = (await db.Notes.GroupBy(_ => 1)
            .Select(g => new { Updated = g.Max(n => (DateTime?)n.UpdatedAt), Deleted = g.Max(n => n.DeletedAt) })
            .ToListAsync(ct)).SingleOrDefault();
        var issues = (await db.Issues.GroupBy(_ => 1)
            .Select(g => new { Updated = g.Max(i => (DateTime?)i.UpdatedAt), Deleted = g.Max(i => i.DeletedAt), Published = g.Max(i => i.PublishedAt) })
            .ToListAsync(ct)).SingleOrDefault();
        // A reader's comment published or taken down changes the page it is under.
        var comments = await db.ReplyMessages.MaxAsync(m => m.CommentChangedAt, ct);
        DateTime?[] all = [notes?.Updated, notes?.Deleted, issues?.Updated, issues?.Deleted, issues?.Published, comments];
        return all.Where(d => d is not null).Select(d => d!.Value).DefaultIfEmpty(DateTime.UnixEpoch).Max();
    }
}
