using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Web.Subscribers.Admin;

/// <summary>
/// The upload is kept (data/imports/ on SQLite, the database on PostgreSQL) and a Hangfire job on any node does the rest, so a 100 MB file never holds
/// a request (or the whole file in memory).
/// </summary>
[RequestSizeLimit(SubscriberImporter.MaxUploadBytes)]
[RequestFormLimits(MultipartBodyLengthLimit = SubscriberImporter.MaxUploadBytes)]
public sealed class ImportModel(AppDbContext db, ImportFiles files, IBackgroundJobClient jobs) : PageModel
{
    public IReadOnlyList<SubscriberImport> Recent { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    [Newsletter.Web.Admin.Requires(Newsletter.Web.Admin.AuthorPolicies.Readers)]
    public async Task<IActionResult> OnPostAsync(IFormFile? file, string? tags, string? mode, string? consent, [FromServices] Audit.AuditLog audit, CancellationToken ct)
    {
        var active = mode == "active";
        if (file is null)
        {
            ModelState.AddModelError("", "Choose a CSV file to import.");
        }
        else if (file.Length == 0)
        {
            // A file was chosen: "choose one" sent the author looking for a button they had already used.
            ModelState.AddModelError("", $"“{file.FileName}” is empty (0 bytes). Export the list again and choose the new file.");
        }
        else if (SubscriberImporter.ConsentProblem(active, consent) is { } problem)
        {
            ModelState.AddModelError("", problem);
        }

        if (!ModelState.IsValid)
        {
            await LoadAsync(ct);
            return Page();
        }

        var import = await SubscriberImporter.StoreAsync(db, files, file!.OpenReadStream(), Path.GetFileName(file.FileName), active, consent, tags, ct);
        jobs.Enqueue<SubscriberImporter>(i => i.RunAsync(import.Id, CancellationToken.None));
        await audit.RecordAsync(User, Audit.AuditActions.ReadersImport, "import", import.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            SubscriberImporter.AuditDetail(Path.GetFileName(file.FileName), active, consent), ct);
        return Redirect($"/admin/subscribers/imports/{import.Id}");
    }

    private async Task LoadAsync(CancellationToken ct) =>
        Recent = await db.SubscriberImports.AsNoTracking().OrderByDescending(i => i.Id).Take(10).ToListAsync(ct);
}
