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

    /// <summary>The sections in the order the front matter lists them (or the old fixed order).</summary>
    public IReadOnlyList<BioBlock> Blocks { get; private set; } = [];

    /// <summary>A links section lists them already, so the header does not repeat them.</summary>
    public bool LinksInHeader => !Blocks.Any(b => b.Kind == BioSectionKind.Links);

    /// <summary>A call to action carries the subscribe form already, so the page does not end with a second one.</summary>
    public bool SubscribeAtEnd => !Blocks.Any(b => b.Subscribe);

    public string JsonLd { get; private set; } = "";

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Note = await AuthorIdentity.PublishedBio(db).FirstOrDefaultAsync(ct);
        if (Note is null)
        {
            return NotFound();
        }

        Profile = BioProfile.Parse(Note.ProfileJson);
        Blocks = BioPage.Build(Profile, Note, markdown);

        var s = site.Value;
        JsonLd = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["@context"] = "https://schema.org",
            ["@type"] = "ProfilePage",
            ["url"] = s.Absolute("/about"),
            ["mainEntity"] = new Dictionary<string, object?>
            {
                ["@type"] = "Person",
                ["name"] = Profile.Name ?? s.AuthorName,
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
