using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers.Admin;

public sealed class ImportStatusModel(AppDbContext db) : PageModel
{
    public SubscriberImport? Import { get; private set; }

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct)
    {
        Import = await db.SubscriberImports.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, ct);
        return Import is null ? NotFound() : Page();
    }
}
