using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Content;
using Newsletter.Web.Data;

namespace Newsletter.Web.Notes.Admin;

public sealed class EditModel(AppDbContext db, MarkdownRenderer markdown, ContentChanges changes) : PageModel
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
        Note note;
        if (Id is { } id)
        {
            var found = await db.Notes.Include(n => n.Tags).FirstOrDefaultAsync(n => n.Id == id && n.DeletedAt == null, ct);
            if (found is null)
            {
                return NotFound();
            }

            if (found.IsFileBacked)
            {
                // The file is the source of truth; an edit here would be overwritten at the next import.
                return BadRequest("This note is owned by its file in notes/ and can only be changed there.");
            }

            note = found;
        }
        else
        {
            note = new Note { Kind = NoteKind.Note, CreatedAt = DateTime.UtcNow };
        }

        Existing = Id is null ? null : note;
        var slug = string.IsNullOrWhiteSpace(Input.Slug) ? NoteFile.Slugify(Input.Title) : Input.Slug.Trim();
        if (!NoteFile.IsValidSlug(slug))
        {
            ModelState.AddModelError("Input.Slug", "The slug may only hold a-z, 0-9 and inner hyphens.");
        }
        else if (await db.Notes.AnyAsync(n => n.Slug == slug && n.Id != note.Id, ct))
        {
            ModelState.AddModelError("Input.Slug", $"Another note already uses the slug '{slug}'.");
        }

        var rendered = markdown.Render(Input.Markdown ?? "");
        PreviewHtml = rendered.Html;
        if (!ModelState.IsValid)
        {
            return Page();
        }

        note.Title = Input.Title.Trim();
        note.Slug = slug;
        note.Summary = string.IsNullOrWhiteSpace(Input.Summary) ? NoteImporter.Excerpt(rendered.PlainText) : Input.Summary.Trim();
        note.Markdown = Input.Markdown ?? "";
        note.Html = rendered.Html;
        note.PlainText = rendered.PlainText;
        note.Date = DateTime.SpecifyKind((Input.Date ?? DateTime.UtcNow).Date, DateTimeKind.Utc);
        note.UpdatedAt = DateTime.UtcNow;
        note.SetTags(Tags.Parse(Input.Tags));
        note.Status = intent switch
        {
            "publish" => NoteStatus.Published,
            "unpublish" => NoteStatus.Draft,
            _ => Id is null ? NoteStatus.Draft : note.Status,
        };
        if (Id is null)
        {
            db.Notes.Add(note);
        }

        await using var change = await changes.BeginAsync(ct);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // Two tabs saving the same new slug at once: the unique index catches the loser.
            ModelState.AddModelError("Input.Slug", $"Another note already uses the slug '{slug}'.");
            return Page();
        }

        await change.CommitAsync(changed: true, ct);
        var message = intent switch
        {
            "publish" => "Published.",
            "unpublish" => "Unpublished: the note is no longer on the site.",
            _ => "Saved.",
        };
        return Redirect($"/admin/notes/{note.Id}?message={Uri.EscapeDataString(message)}");
    }
}

public sealed class NoteInput
{
    [Required, StringLength(300)]
    public string Title { get; set; } = "";

    [StringLength(120)]
    public string? Slug { get; set; }

    [DataType(DataType.Date)]
    public DateTime? Date { get; set; } = DateTime.UtcNow.Date;

    [StringLength(500)]
    public string? Tags { get; set; }

    [StringLength(1000)]
    public string? Summary { get; set; }

    [StringLength(1_000_000, ErrorMessage = "A note can be at most 1,000,000 characters.")]
    public string? Markdown { get; set; }

    public static NoteInput From(Note n) => new()
    {
        Title = n.Title,
        Slug = n.Slug,
        Date = n.Date,
        Tags = string.Join(", ", n.TagNames),
        Summary = n.Summary,
        Markdown = n.Markdown,
    };
}
