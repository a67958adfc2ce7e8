using Hangfire;
using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Site;

namespace Newsletter.Web.Notes;

/// <summary>What a save does to a note's status.</summary>
public enum NoteIntent
{
    /// <summary>A new note starts as a draft; an existing one keeps its status.</summary>
    Save,
    Publish,
    Unpublish,
}

public enum NoteEditOutcome
{
    Saved,
    NotFound,

    /// <summary>Owned by its file in notes/: an edit here would be overwritten at the next import.</summary>
    FileBacked,
    Invalid,

    /// <summary>Saved elsewhere since the version the editor's page showed: nothing was saved.</summary>
    Stale,
}

/// <summary>A save's outcome: the note, or the fields refused (keyed by <see cref="NoteInput"/>'s property names).</summary>
public sealed record NoteEditResult(NoteEditOutcome Outcome, Note? Note, IReadOnlyDictionary<string, string[]> Errors);

/// <summary>
/// Writes notes for the admin's editor and the API: validation, slug uniqueness, rendering once per change,
/// and the content version every node's cache follows, all in one place.
/// </summary>
public sealed class NoteEditor(AppDbContext db, MarkdownRenderer markdown, ContentChanges changes, TimeProvider clock, IBackgroundJobClient jobs, IOptions<SiteOptions> site)
{
    private static readonly IReadOnlyDictionary<string, string[]> NoErrors = new Dictionary<string, string[]>();

    /// <summary>The author's date now, as the site shows dates: at 00:10 in Berlin it is already tomorrow there.</summary>
    public DateTime Today() => TimeZoneInfo.ConvertTimeFromUtc(clock.GetUtcNow().UtcDateTime, site.Value.Zone).Date;

    /// <summary>Creates a note (<paramref name="id"/> null) or changes one written in the admin or through the API.</summary>
    /// <param name="expectedVersion">
    /// The version (UpdatedAt in microseconds) the editor's page showed, or null: the save goes through only over
    /// that one, checked and written in one step, so two tabs saving at once can't both be told "Saved".
    /// </param>
    public async Task<NoteEditResult> SaveAsync(int? id, NoteInput input, NoteIntent intent, CancellationToken ct, long? expectedVersion = null)
    {
        Note note;
        DateTime? loaded = null;
        if (id is { } existing)
        {
            var found = await db.Notes.Include(n => n.Tags).FirstOrDefaultAsync(n => n.Id == existing && n.DeletedAt == null, ct);
            if (found is null)
            {
                return new NoteEditResult(NoteEditOutcome.NotFound, null, NoErrors);
            }

            if (found.IsFileBacked)
            {
                return new NoteEditResult(NoteEditOutcome.FileBacked, found, NoErrors);
            }

            note = found;
            loaded = found.UpdatedAt;
            if (expectedVersion is { } expected && found.UpdatedAt.Ticks / 10 != expected)
            {
                return new NoteEditResult(NoteEditOutcome.Stale, null, NoErrors);
            }
        }
        else
        {
            note = new Note { Kind = NoteKind.Note, CreatedAt = clock.GetUtcNow().UtcDateTime };
        }

        var errors = new Dictionary<string, string[]>();
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(input, new ValidationContext(input), results, validateAllProperties: true))
        {
            foreach (var r in results)
            {
                foreach (var member in r.MemberNames.DefaultIfEmpty(""))
                {
                    errors[member] = [.. errors.GetValueOrDefault(member, []), r.ErrorMessage ?? "Invalid."];
                }
            }
        }

        // A form posts an empty title as null (the validator above names it); the checks below must not throw on it.
        input.Title ??= "";
        if (input.Title.Any(Infrastructure.OneLine.IsBreak))
        {
            errors[nameof(NoteInput.Title)] = ["The title must be on one line."];
        }

        // Left out, a published note keeps its slug: its address is in feeds, emails and links out there, and a
        // PUT that only meant to fix a typo in the title must not move it. A draft's follows its title.
        var made = string.IsNullOrWhiteSpace(input.Slug) && !(note.Status == NoteStatus.Published && note.Slug is { Length: > 0 });
        var slug = !string.IsNullOrWhiteSpace(input.Slug) ? input.Slug.Trim()
            : !made ? note.Slug!
            : NoteFile.Slugify(input.Title);
        if (made && NoteFile.IsValidSlug(slug))
        {
            slug = await FreeSlug.FindAsync(db.Notes.Where(n => n.Id != note.Id).Select(n => n.Slug), slug, note.Slug, ct);
        }

        if (!NoteFile.IsValidSlug(slug))
        {
            // A title in another script ("日本語のノート") makes no slug: say what to do, not that a slug nobody typed is wrong.
            errors[nameof(NoteInput.Slug)] = [made && input.Title.Trim().Length > 0
                ? "The title has no letters a-z or digits to make a web address from: type a slug."
                : "The slug may only hold a-z, 0-9 and inner hyphens."];
        }
        else if (await db.Notes.AnyAsync(n => n.Slug == slug && n.Id != note.Id, ct))
        {
            errors[nameof(NoteInput.Slug)] = [$"Another note already uses the slug '{slug}'."];
        }

        if (errors.Count > 0)
        {
            return new NoteEditResult(NoteEditOutcome.Invalid, null, errors);
        }

        // The renderer checks the text's shape first (MarkdownShape): one pass, here as everywhere it renders.
        Content.RenderedMarkdown rendered;
        try
        {
            rendered = markdown.Render(input.Markdown ?? "");
        }
        catch (Content.MarkdownTooComplexException e)
        {
            errors[nameof(NoteInput.Markdown)] = [e.Message];
            return new NoteEditResult(NoteEditOutcome.Invalid, null, errors);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        note.Title = input.Title.Trim();
        note.Slug = slug;
        note.Summary = string.IsNullOrWhiteSpace(input.Summary) ? NoteImporter.Excerpt(rendered.PlainText) : input.Summary.Trim();
        note.Markdown = input.Markdown ?? "";
        note.Html = rendered.Html;
        note.PlainText = note.Kind == NoteKind.Bio ? NoteImporter.BioSearchText(markdown, rendered.PlainText, note.ProfileJson) : rendered.PlainText;
        note.Date = DateTime.SpecifyKind((input.Date ?? Today()).Date, DateTimeKind.Utc);
        note.UpdatedAt = now;
        note.SetTags(Tags.Parse(input.Tags));
        note.Status = intent switch
        {
            NoteIntent.Publish => NoteStatus.Published,
            NoteIntent.Unpublish => NoteStatus.Draft,
            _ => id is null ? NoteStatus.Draft : note.Status,
        };
        if (id is null)
        {
            db.Notes.Add(note);
        }

        await using var change = await changes.BeginAsync(ct);
        try
        {
            if (expectedVersion is not null && loaded is { } before
                && await db.Notes.Where(n => n.Id == note.Id && n.UpdatedAt == before).ExecuteUpdateAsync(u => u.SetProperty(n => n.UpdatedAt, now), ct) == 0)
            {
                // Another save committed between this one's read and its write: the version the page showed is gone.
                db.ChangeTracker.Clear();
                return new NoteEditResult(NoteEditOutcome.Stale, null, NoErrors);
            }

            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (db.IsUniqueViolation(e))
        {
            // Two saves of the same new slug at once: the unique index catches the loser.
            db.ChangeTracker.Clear();
            return new NoteEditResult(NoteEditOutcome.Invalid, null, new Dictionary<string, string[]> { [nameof(NoteInput.Slug)] = [$"Another note already uses the slug '{slug}'."] });
        }

        await change.CommitAsync(changed: true, ct);
        if (note.IsPublic)
        {
            // Its link-preview card, drawn now rather than when the first crawler asks (a new title is a new card).
            jobs.Enqueue<SocialCards.SocialCardJob>(j => j.DrawNoteAsync(note.Id, CancellationToken.None));
        }

        return new NoteEditResult(NoteEditOutcome.Saved, note, NoErrors);
    }

    /// <summary>Publishes or unpublishes a note without touching its text; publishing twice changes nothing.</summary>
    public async Task<NoteEditOutcome> SetPublishedAsync(int id, bool published, CancellationToken ct)
    {
        var note = await db.Notes.AsNoTracking().Where(n => n.Id == id && n.DeletedAt == null).Select(n => new { n.SourcePath }).FirstOrDefaultAsync(ct);
        if (note is null)
        {
            return NoteEditOutcome.NotFound;
        }

        if (note.SourcePath is not null)
        {
            return NoteEditOutcome.FileBacked;
        }

        var status = published ? NoteStatus.Published : NoteStatus.Draft;
        await using var change = await changes.BeginAsync(ct);
        var moved = await db.Notes.Where(n => n.Id == id && n.DeletedAt == null && n.SourcePath == null && n.Status != status)
            .ExecuteUpdateAsync(u => u.SetProperty(n => n.Status, status).SetProperty(n => n.UpdatedAt, clock.GetUtcNow().UtcDateTime), ct);
        await change.CommitAsync(changed: moved > 0, ct);
        if (published && moved > 0)
        {
            jobs.Enqueue<SocialCards.SocialCardJob>(j => j.DrawNoteAsync(id, CancellationToken.None));
        }

        return NoteEditOutcome.Saved;
    }
}

public sealed class NoteInput
{
    [Required(ErrorMessage = "Give the note a title."), StringLength(300, ErrorMessage = "A title can be at most 300 characters.")]
    public string Title { get; set; } = "";

    [StringLength(120, ErrorMessage = "A slug can be at most 120 characters.")]
    public string? Slug { get; set; }

    /// <summary>Left empty, the author's today (<see cref="NoteEditor.Today"/>), not UTC's.</summary>
    [DataType(DataType.Date)]
    public DateTime? Date { get; set; }

    [StringLength(500, ErrorMessage = "The tags can be at most 500 characters together.")]
    public string? Tags { get; set; }

    [StringLength(1000, ErrorMessage = "A summary can be at most 1,000 characters.")]
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
