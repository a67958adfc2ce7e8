using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests.Admin;

public sealed class EditModel(AppDbContext db, DigestEditor editor, AuditLog audit, IOptions<SiteOptions> site) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public int? Id { get; set; }

    [BindProperty]
    public DigestInput Input { get; set; } = new();

    public string TimeZone => site.Value.TimeZone;

    /// <summary>Tags on published notes, offered for the topic field.</summary>
    public IReadOnlyList<string> TopicsInUse { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        TopicsInUse = await editor.TopicsInUseAsync(ct);
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
        // A digest that sends itself mails every reader with nobody looking: making one, changing one or turning
        // one into it is sending, so it takes the send permission. A writer may keep digests that wait for approval.
        var wasSending = Id is { } id && await db.Digests.AnyAsync(d => d.Id == id && d.Mode == DigestMode.SendItself, ct);
        if ((wasSending || Input.Mode == DigestMode.SendItself) && !User.May(AuthorPolicies.Send))
        {
            return StatusCode(StatusCodes.Status403Forbidden);
        }

        var result = await editor.SaveAsync(Id, Input, ct);
        if (!result.Saved)
        {
            foreach (var (field, error) in result.Errors)
            {
                ModelState.AddModelError(field.Length == 0 ? "" : $"{nameof(Input)}.{field}", error);
            }

            TopicsInUse = await editor.TopicsInUseAsync(ct);
            return Page();
        }

        if (wasSending || result.Digest!.Mode == DigestMode.SendItself)
        {
            await audit.RecordAsync(User, AuditActions.DigestChange, "digest", result.Digest!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"“{result.Digest.Name}” saved; it {(result.Digest.Mode == DigestMode.SendItself ? "sends itself" : "waits for approval")}", ct);
        }

        var warning = await editor.TopicWarningAsync(result.Digest!.Topic, ct);
        TempData["Digests.Message"] = $"Saved “{result.Digest!.Name}”." + (warning is null ? "" : " " + warning);
        return RedirectToPage("Index");
    }
}
