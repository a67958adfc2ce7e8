using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Archive;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Notes;

/// <summary>Everything public with one tag: its notes and its issues, each newest first.</summary>
public sealed class TagModel(AppDbContext db, IOptions<SiteOptions> site) : PageModel
{
    public string Tag { get; private set; } = "";

    public IReadOnlyList<Note> Notes { get; private set; } = [];

    public IReadOnlyList<ArchiveEntry> Issues { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(string tag, CancellationToken ct)
    {
        Tag = global::Newsletter.Web.Notes.Tags.Normalize(tag);
        if (Tag.Length == 0)
        {
            return NotFound();
        }

        if (Tag != tag)
        {
            return RedirectPermanent($"/tags/{Tag}");
        }

        Notes = await PublicContent.Notes(db).AsNoTracking().Include(n => n.Tags)
            .Where(n => n.Tags.Any(t => t.Tag == Tag))
            .OrderByDescending(n => n.Date).ThenByDescending(n => n.Id).ToListAsync(ct);
        var issues = await PublicContent.Issues(db).AsNoTracking()
            .Where(i => i.Tags.Any(t => t.Tag == Tag))
            .OrderByDescending(i => i.PublishedAt).ThenByDescending(i => i.Id)
            .Select(i => new { i.Number, i.Subject, i.Summary, i.PublishedAt, i.Slug, i.WebOnly }).ToListAsync(ct);
        Issues = [.. issues.Select(i => new ArchiveEntry(i.Number, i.Subject, i.Summary, site.Value.ToLocal(i.PublishedAt!.Value), $"/issues/{i.Slug}", i.WebOnly))];
        return Notes.Count == 0 && Issues.Count == 0 ? NotFound() : Page();
    }
}
