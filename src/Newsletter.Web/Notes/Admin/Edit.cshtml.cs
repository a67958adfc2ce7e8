using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Content;
using Newsletter.Web.Data;

namespace Newsletter.Web.Notes.Admin;

public sealed class EditModel(AppDbContext db, MarkdownRenderer markdown, NoteEditor editor) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public int? Id { get; set; }

    [BindProperty]
    public NoteInput Input { get; set; } = new();

    [BindProperty(SupportsGet = true, Name = "message")]
    public string? Message { get; set; }

    public Note? Existing { get; private set; }

    public string PreviewHtml { get; private set; } = "";

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

        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string intent, CancellationToken ct)
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
        }

        if (!ModelState.IsValid)
        {
            return Page();
        }

        var result = await editor.SaveAsync(Id, Input, intent switch { "publish" => NoteIntent.Publish, "unpublish" => NoteIntent.Unpublish, _ => NoteIntent.Save }, ct);
        switch (result.Outcome)
        {
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
        return Redirect($"/admin/notes/{result.Note!.Id}?message={Uri.EscapeDataString(message)}");
    }
}
