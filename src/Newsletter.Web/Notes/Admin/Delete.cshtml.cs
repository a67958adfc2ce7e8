using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Admin;

namespace Newsletter.Web.Notes.Admin;

public sealed class DeleteModel(AppDbContext db, ContentChanges changes) : PageModel
{
    public Note? Note { get; private set; }

    /// <summary>
    /// Unsent issues that include the note. Their text keeps it as last composed, so a scheduled one would still
    /// mail it and publish it on its page: the author is told before deleting, not by a warning seen later or never.
    /// </summary>
    public IReadOnlyList<(int Id, string Subject, Issues.IssueStatus Status)> IncludedIn { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct)
    {
        Note = await db.Notes.AsNoTracking().FirstOrDefaultAsync(n => n.Id == id && n.DeletedAt == null, ct);
        IncludedIn = [.. (await db.Issues.AsNoTracking()
            .Where(i => i.DeletedAt == null && (i.Status == Issues.IssueStatus.Draft || i.Status == Issues.IssueStatus.Scheduled) && i.Notes.Any(n => n.NoteId == id))
            .OrderBy(i => i.Id).Select(i => new { i.Id, i.Subject, i.Status }).ToListAsync(ct)).Select(i => (i.Id, i.Subject, i.Status))];
        return Note is null ? NotFound() : Note.IsFileBacked ? BadRequest("Delete the file in notes/ instead.") : Page();
    }

    public async Task<IActionResult> OnPostAsync(int id, CancellationToken ct)
    {
        // Set-based, so a double click deletes once and the second click finds nothing to do.
        await using var change = await changes.BeginAsync(ct);
        var deleted = await db.Notes.Where(n => n.Id == id && n.DeletedAt == null && n.SourcePath == null)
            .ExecuteUpdateAsync(s => s.SetProperty(n => n.DeletedAt, DateTime.UtcNow).SetProperty(n => n.Status, NoteStatus.Draft), ct);
        await change.CommitAsync(changed: deleted > 0, ct);
        return this.RedirectWithMessage("/admin/notes", deleted > 0 ? "Note deleted." : "That note was already deleted.");
    }
}
