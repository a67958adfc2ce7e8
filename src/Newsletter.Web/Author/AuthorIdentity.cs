using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Author;

/// <summary>
/// Who the author is, everywhere the site names them (footer, byline, feeds, meta tags, structured data): the
/// published bio's name, or Site:AuthorName while there is no bio or it has no name. Read once per request.
/// </summary>
public sealed class AuthorIdentity(AppDbContext db, IOptions<SiteOptions> site)
{
    private string? _name;

    public async Task<string> NameAsync(CancellationToken ct = default)
    {
        if (_name is not null)
        {
            return _name;
        }

        var json = await PublishedBio(db).Select(n => n.ProfileJson).FirstOrDefaultAsync(ct);
        var name = BioProfile.Parse(json).Name?.Trim();
        return _name = name is { Length: > 0 } ? name : site.Value.AuthorName;
    }

    /// <summary>The bio the site shows: the newest published one.</summary>
    public static IQueryable<Note> PublishedBio(AppDbContext db) => db.Notes.AsNoTracking()
        .Where(n => n.Kind == NoteKind.Bio && n.Status == NoteStatus.Published && n.DeletedAt == null)
        .OrderByDescending(n => n.UpdatedAt);
}
