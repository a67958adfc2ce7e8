using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Admin;

namespace Newsletter.Web.Notes.Admin;

public sealed class EditModel(AppDbContext db, MarkdownRenderer markdown, NoteEditor editor) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public int? Id { get; set; }

    [BindProperty]
    public NoteInput Input { get; set; } = new();

    [TempData(Key = Newsletter.Web.Admin.AdminFlash.Key)]
    public string? Message { get; set; }

    public Note? Existing { get; private set; }

    public string PreviewHtml { get; private set; } = "";

    /// <summary>The saved version the page shows; an autosave from an older one is refused rather than overwrite a newer save.</summary>
    public string Version => Existing is null ? "" : VersionOf(Existing.UpdatedAt);

    // Microseconds: PostgreSQL keeps no finer time, so a version read back from either database matches.
    private PageResult SavedElsewhere()
    {
        ModelState.AddModelError("", "This note was saved elsewhere since this page was opened, so nothing was saved. Your text is below: copy what you need, then reload the note to see the other version.");
        return Page();
    }

    /// <summary>The version a form posted; one that is not a number matches no stored version.</summary>
    private static long Shown(string? version) => long.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var shown) ? shown : -1;

    private static string VersionOf(DateTime updatedAt) => (updatedAt.Ticks / 10).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (Id is { } id)
        {
            Existing = await db.Notes.Include(n => n.Tags).FirstOrDefaultAsync(n => n.Id == id && n.DeletedAt == null, ct);
            if (Existing is null)
            {
                return NotFound();
            }

            Input = NoteInput.From(Existing);
            PreviewHtml = Existing.Html;
        }
        else
        {
            Input.Date = editor.Today();
        }

        return Page();
    }

    /// <summary>
    /// The editor's save as the author types (wwwroot/js/autosave.js). A new note is created as a draft by its
    /// first autosave and the page becomes its page; an existing one is saved only while it is a draft and only
    /// over the version the page showed, so a newer save elsewhere is never overwritten unseen. Answers JSON.
    /// </summary>
    public async Task<IActionResult> OnPostAutosaveAsync(string? version, CancellationToken ct)
    {
        if (Id is { } id)
        {
            var current = await db.Notes.AsNoTracking().Where(n => n.Id == id && n.DeletedAt == null)
                .Select(n => new { n.Status, n.SourcePath }).FirstOrDefaultAsync(ct);
            if (current is null)
            {
                return NotFound(new { error = "This note no longer exists." });
            }

            if (current.Status != NoteStatus.Draft || current.SourcePath is not null)
            {
                return new ConflictObjectResult(new { error = "This note is published (or owned by its file), so it is not saved by itself: press Save to change it." });
            }
        }

        // The editor saves only over the version the page showed, looked at and written in one step.
        var result = await editor.SaveAsync(Id, Input, NoteIntent.Save, ct, Id is null ? null : Shown(version));
        return result.Outcome switch
        {
            NoteEditOutcome.Saved => new JsonResult(new { version = VersionOf(result.Note!.UpdatedAt), url = $"/admin/notes/{result.Note.Id}", key = $"note:{result.Note.Id}" }),
            NoteEditOutcome.Stale => new ConflictObjectResult(new { error = "This draft was saved elsewhere since this page was opened. Reload to see that version." }),
            NoteEditOutcome.Invalid => BadRequest(new { errors = result.Errors }),
            NoteEditOutcome.FileBacked => new ConflictObjectResult(new { error = "This note is owned by its file in notes/ and can only be changed there." }),
            _ => NotFound(new { error = "This note no longer exists." }),
        };
    }

    public async Task<IActionResult> OnPostAsync(string intent, string? version, CancellationToken ct)
    {
        PreviewHtml = markdown.Render(Input.Markdown ?? "").Html;
        if (Id is { } id)
        {
            Existing = await db.Notes.AsNoTracking().Include(n => n.Tags).FirstOrDefaultAsync(n => n.Id == id && n.DeletedAt == null, ct);
            if (Existing is { IsFileBacked: true })
            {
                // The file is the source of truth; an edit here would be overwritten at the next import.
                return BadRequest("This note is owned by its file in notes/ and can only be changed there.");
            }

            // Refused before the form's own checks: a stale page's text is kept for copying, whatever it holds. The
            // editor checks again in the write itself, for a save that lands between this look and it.
            if (Existing is not null && !string.IsNullOrEmpty(version) && version != VersionOf(Existing.UpdatedAt))
            {
                return SavedElsewhere();
            }
        }

        if (!ModelState.IsValid)
        {
            return Page();
        }

        // As autosave: only over the version the page showed. A co-author's (or another tab's) newer save is never
        // overwritten unseen; this page keeps the text it posted, to be copied over once the other is read.
        var result = await editor.SaveAsync(Id, Input, intent switch { "publish" => NoteIntent.Publish, "unpublish" => NoteIntent.Unpublish, _ => NoteIntent.Save }, ct,
            Existing is null || string.IsNullOrEmpty(version) ? null : Shown(version));
        switch (result.Outcome)
        {
            case NoteEditOutcome.Stale:
                return SavedElsewhere();
            case NoteEditOutcome.NotFound:
                return NotFound();
            case NoteEditOutcome.FileBacked:
                // The file is the source of truth; an edit here would be overwritten at the next import.
                return BadRequest("This note is owned by its file in notes/ and can only be changed there.");
            case NoteEditOutcome.Invalid:
                foreach (var (field, messages) in result.Errors)
                {
                    foreach (var m in messages)
                    {
                        ModelState.AddModelError(field.Length == 0 ? "" : "Input." + field, m);
                    }
                }

                return Page();
        }

        var message = intent switch
        {
            "publish" => "Published.",
            "unpublish" => "Unpublished: the note is no longer on the site.",
            _ => "Saved.",
        };
        return this.RedirectWithMessage($"/admin/notes/{result.Note!.Id}", message);
    }
}
