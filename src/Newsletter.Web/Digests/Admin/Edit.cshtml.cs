using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests.Admin;

public sealed class EditModel(AppDbContext db, DigestEditor editor, IOptions<SiteOptions> site) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public int? Id { get; set; }

    [BindProperty]
    public DigestInput Input { get; set; } = new();

    public string TimeZone => site.Value.TimeZone;

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (Id is { } id)
        {
            var digest = await db.Digests.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id, ct);
            if (digest is null)
            {
                return NotFound();
            }

            Input = DigestInput.From(digest);
        }

        return Page();
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        var result = await editor.SaveAsync(Id, Input, ct);
        if (!result.Saved)
        {
            foreach (var (field, error) in result.Errors)
            {
                ModelState.AddModelError(field.Length == 0 ? "" : $"{nameof(Input)}.{field}", error);
            }

            return Page();
        }

        TempData["Digests.Message"] = $"Saved “{result.Digest!.Name}”.";
        return RedirectToPage("Index");
    }
}
