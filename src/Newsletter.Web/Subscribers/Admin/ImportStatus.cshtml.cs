using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Web.Subscribers.Admin;

public sealed record ImportError(string Line, string Email, string Reason);

public sealed class ImportStatusModel(AppDbContext db, ImportFiles files, IAuthorizationService authorization) : PageModel
{
    /// <summary>Enough to see what went wrong at a glance; the download has every row.</summary>
    public const int ErrorsShown = 20;

    public SubscriberImport? Import { get; private set; }

    public IReadOnlyList<ImportError> Errors { get; private set; } = [];

    /// <summary>
    /// The refused rows hold addresses: shown and offered for download to those who may handle readers (owners,
    /// editors), as the download itself and the API allow; a viewer or writer sees the counts.
    /// </summary>
    public bool MaySeeRows { get; private set; }

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct)
    {
        Import = await db.SubscriberImports.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, ct);
        if (Import is null)
        {
            return NotFound();
        }

        MaySeeRows = (await authorization.AuthorizeAsync(User, Newsletter.Web.Admin.AuthorPolicies.Readers)).Succeeded;
        // Read while the import may still be writing it: what it has flushed so far, and only the first rows.
        if (MaySeeRows && Import.Invalid > 0 && await files.OpenReadAsync(SubscriberImporter.ErrorsName(id), ct) is { } file)
        {
            await using var _ = file;
            using var text = new StreamReader(file);
            Errors = [.. new CsvReader(text, ',').Records().Skip(1).Where(r => r.Error is null && r.Fields.Length >= 3)
                .Take(ErrorsShown).Select(r => new ImportError(r.Fields[0], r.Fields[1], r.Fields[2]))];
        }

        return Page();
    }
}
