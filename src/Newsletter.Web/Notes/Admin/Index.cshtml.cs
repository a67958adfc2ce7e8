using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Notes.Admin;

public sealed class IndexModel(AppDbContext db) : PageModel
{
    public IReadOnlyList<Note> Notes { get; private set; } = [];

    [TempData(Key = Newsletter.Web.Admin.AdminFlash.Key)]
    public string? Message { get; set; }

    public async Task OnGetAsync(CancellationToken ct) =>
        Notes = await db.Notes.AsNoTracking().Where(n => n.DeletedAt == null)
            .OrderByDescending(n => n.Date).ThenByDescending(n => n.Id).ToListAsync(ct);
}
