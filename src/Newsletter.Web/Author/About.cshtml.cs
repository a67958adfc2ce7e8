using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Author;

public sealed class AboutModel(AppDbContext db, MarkdownRenderer markdown, IOptions<SiteOptions> site) : PageModel
{
    public Note? Note { get; private set; }

    public BioProfile Profile { get; private set; } = new();

    public string? CurrentlyHtml { get; private set; }

    public string? NewsletterHtml { get; private set; }

    public IReadOnlyList<string> PhaseHtml { get; private set; } = [];

    public IReadOnlyList<string> PrincipleHtml { get; private set; } = [];

    public string JsonLd { get; private set; } = "";

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Note = await db.Notes.AsNoTracking()
            .Where(n => n.Kind == NoteKind.Bio && n.Status == NoteStatus.Published && n.DeletedAt == null)
            .OrderByDescending(n => n.UpdatedAt).FirstOrDefaultAsync(ct);
        if (Note is null)
        {
            return NotFound();
        }

        Profile = BioProfile.Parse(Note.ProfileJson);
        string Md(string? text) => string.IsNullOrWhiteSpace(text) ? "" : markdown.Render(text).Html;
        CurrentlyHtml = Md(Profile.Currently);
        NewsletterHtml = Md(Profile.Newsletter);
        PhaseHtml = [.. Profile.Timeline.Select(t => Md(t.Text))];
        PrincipleHtml = [.. Profile.Principles.Select(t => Md(t.Text))];

        var s = site.Value;
        JsonLd = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["@context"] = "https://schema.org",
            ["@type"] = "ProfilePage",
            ["url"] = s.Absolute("/about"),
            ["mainEntity"] = new Dictionary<string, object?>
            {
                ["@type"] = "Person",
                ["name"] = Profile.Name,
                ["jobTitle"] = Profile.Role,
                ["worksFor"] = Profile.Employer is null ? null : new Dictionary<string, string> { ["@type"] = "Organization", ["name"] = Profile.Employer },
                ["homeLocation"] = Profile.Location,
                ["description"] = Profile.Headline,
                ["sameAs"] = Profile.Links.Where(l => l.Url.StartsWith("https://", StringComparison.OrdinalIgnoreCase)).Select(l => l.Url).ToList(),
            },
        });
        return Page();
    }
}
