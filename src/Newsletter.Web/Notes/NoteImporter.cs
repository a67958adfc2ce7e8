using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Notes;

public sealed record NoteImportResult(int Added, int Updated, int Unchanged, int Removed, IReadOnlyList<string> Errors)
{
    public override string ToString() =>
        $"{Added} added, {Updated} updated, {Unchanged} unchanged, {Removed} removed, {Errors.Count} errors";
}

/// <summary>
/// Brings notes/ into the database. Idempotent: keyed by slug, skipped when the file's hash is unchanged.
/// A bad file is reported with its line and skipped; it never stops the other notes from importing.
/// </summary>
public sealed class NoteImporter(AppDbContext db, MarkdownRenderer renderer, AppPaths paths, ContentChanges changes, ILogger<NoteImporter> logger)
{
    /// <summary>Files under this folder of notes/ are examples for authors to copy, never imported.</summary>
    public const string ExamplesFolder = "examples/";

    public async Task<NoteImportResult> ImportAsync(CancellationToken ct = default)
    {
        var errors = new List<string>();
        var files = new Dictionary<string, NoteFile>(StringComparer.Ordinal);
        // Files that are there but cannot be read now (a typo in the front matter): their notes stay as last imported.
        var unreadable = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(paths.NotesFolder))
        {
            foreach (var path in Directory.EnumerateFiles(paths.NotesFolder, "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var relative = Path.GetRelativePath(paths.NotesFolder, path).Replace('\\', '/');
                // notes/examples/ holds pages to copy (the example about pages), not notes to publish.
                if (relative.StartsWith(ExamplesFolder, StringComparison.Ordinal))
                {
                    continue;
                }

                try
                {
                    var file = NoteFile.Parse(relative, await File.ReadAllTextAsync(path, ct));
                    if (files.TryGetValue(file.Slug, out var first))
                    {
                        errors.Add($"{relative}:1: slug '{file.Slug}' is already used by {first.RelativePath}; this file was skipped");
                        continue;
                    }

                    files[file.Slug] = file;
                }
                catch (NoteFileException e)
                {
                    errors.Add(e.Message + " (the page keeps its last imported version until the file is fixed)");
                    unreadable.Add(relative);
                }
            }
        }

        var existing = await db.Notes.Include(n => n.Tags).ToDictionaryAsync(n => n.Slug, StringComparer.Ordinal, ct);
        int added = 0, updated = 0, unchanged = 0, removed = 0;
        foreach (var file in files.Values)
        {
            if (existing.TryGetValue(file.Slug, out var note))
            {
                if (note.SourcePath is null && note.DeletedAt is null)
                {
                    errors.Add($"{file.RelativePath}:1: slug '{file.Slug}' belongs to a note written in the admin; rename one of them");
                    continue;
                }

                // Checked before rendering: on a restart every note is unchanged, and rendering them only to throw the
                // HTML away made each start build Markdig's pipeline and the HTML sanitiser before the first page.
                if (note.ContentHash == file.ContentHash && note.SourcePath == file.RelativePath && note.DeletedAt is null)
                {
                    unchanged++;
                    continue;
                }
            }

            Content.RenderedMarkdown rendered;
            try
            {
                rendered = renderer.Render(file.Body);
            }
            catch (Content.MarkdownTooComplexException e)
            {
                errors.Add($"{file.RelativePath}:1: {e.Message} (the page keeps its last imported version until the file is fixed)");
                continue;
            }

            if (note is not null)
            {
                updated++;
            }
            else
            {
                note = new Note { Slug = file.Slug, CreatedAt = DateTime.UtcNow };
                db.Notes.Add(note);
                added++;
            }

            Apply(note, file, rendered);
        }

        // A file that disappeared takes its note with it; the URL then answers 410 Gone. One still there that failed
        // to parse is not gone: a typo must not take a published page (or the bio page) off the site.
        foreach (var note in existing.Values.Where(n => n.SourcePath is not null && n.DeletedAt is null && !files.ContainsKey(n.Slug) && !unreadable.Contains(n.SourcePath)))
        {
            note.DeletedAt = DateTime.UtcNow;
            removed++;
        }

        // Counted with the notes, so a node serving pages while a command imports never misses the change.
        await using (var change = await changes.BeginAsync(ct))
        {
            await db.SaveChangesAsync(ct);
            await change.CommitAsync(changed: added + updated + removed > 0, ct);
        }

        var result = new NoteImportResult(added, updated, unchanged, removed, errors);
        foreach (var error in errors)
        {
            logger.LogError("Note import: {Error}", error);
        }

        logger.LogInformation("Imported notes from {Folder}: {Result}", paths.NotesFolder, result);
        return result;
    }

    private void Apply(Note note, NoteFile file, Content.RenderedMarkdown rendered)
    {
        note.Title = file.Title;
        note.Kind = file.Kind;
        note.Status = file.Status;
        note.Summary = file.Summary.Length > 0 ? file.Summary : Excerpt(rendered.PlainText);
        note.Markdown = file.Body;
        note.Html = rendered.Html;
        note.PlainText = file.Kind == NoteKind.Bio ? BioSearchText(renderer, rendered.PlainText, file.ProfileJson) : rendered.PlainText;
        note.ProfileJson = file.ProfileJson;
        note.SourcePath = file.RelativePath;
        note.ContentHash = file.ContentHash;
        note.Date = file.Date;
        note.UpdatedAt = DateTime.UtcNow;
        note.DeletedAt = null;
        note.SetTags(file.Tags);
    }

    /// <summary>A bio's search text: its body, then what its front matter puts on the page.</summary>
    public static string BioSearchText(MarkdownRenderer renderer, string body, string? profileJson)
    {
        var profile = renderer.Render(Author.BioProfile.Parse(profileJson).SearchMarkdown()).PlainText;
        return profile.Length == 0 ? body : body.Length == 0 ? profile : body + "\n" + profile;
    }

    public static string Excerpt(string text, int max = 200)
    {
        var flat = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        if (flat.Length <= max)
        {
            return flat;
        }

        var cut = flat.LastIndexOf(' ', max);
        if (cut < max / 2)
        {
            // Chinese or Japanese text, or a long link first, has no space to cut at: it is cut at the limit, between
            // two whole characters (never inside a surrogate pair or before a combining mark).
            cut = 0;
            var characters = System.Globalization.StringInfo.GetTextElementEnumerator(flat);
            while (characters.MoveNext() && characters.ElementIndex + characters.GetTextElement().Length <= max)
            {
                cut = characters.ElementIndex + characters.GetTextElement().Length;
            }
        }

        return flat[..cut].TrimEnd() + "…";
    }
}

/// <summary>Writes notes written in the admin to notes/ as files, which then own them.</summary>
public sealed class NoteExporter(AppDbContext db, AppPaths paths)
{
    public async Task<IReadOnlyList<string>> ExportAsync(CancellationToken ct = default)
    {
        Directory.CreateDirectory(paths.NotesFolder);
        var written = new List<string>();
        var notes = await db.Notes.Include(n => n.Tags).Where(n => n.SourcePath == null && n.DeletedAt == null && n.Kind == NoteKind.Note).ToListAsync(ct);
        foreach (var note in notes)
        {
            // Slugs are validated to [a-z0-9-], so the file name cannot escape notes/.
            var name = note.Slug + ".md";
            var path = Path.Combine(paths.NotesFolder, name);
            if (File.Exists(path))
            {
                throw new IOException($"{path} already exists; move it away or rename the note before exporting");
            }

            var content = NoteFile.Format(note);
            await File.WriteAllTextAsync(path, content, ct);
            note.SourcePath = name;
            note.ContentHash = NoteFile.Hash(content);
            written.Add(path);
        }

        await db.SaveChangesAsync(ct);
        return written;
    }
}
