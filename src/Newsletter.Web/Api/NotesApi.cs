using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Api;

public sealed record NoteDto(int Id, string Slug, string Title, NoteStatus Status, DateTime Date, IReadOnlyList<string> Tags, string Summary, string Markdown, string Html,
    bool FileBacked, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static NoteDto From(Note n) => new(n.Id, n.Slug, n.Title, n.Status, n.Date, [.. n.TagNames], n.Summary, n.Markdown, n.Html, n.IsFileBacked, n.CreatedAt, n.UpdatedAt);
}

/// <summary>A note's text. A slug left out is made from the title; a summary left out is the body's first sentences.</summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record NoteWrite(string? Title, string? Slug, DateTime? Date, IReadOnlyList<string>? Tags, string? Summary, string? Markdown, bool Publish = false);

/// <summary>/api/v1/notes: written through <see cref="NoteEditor"/>, like the admin's editor. Notes owned by a file in notes/ are read-only.</summary>
public static class NotesApi
{
    public static RouteGroupBuilder MapNotesApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/notes").WithTags("Notes");
        g.MapGet("/", ListAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("List notes").WithDescription("Newest first (by id), drafts and published, optionally filtered by status. Pages by cursor.");
        g.MapGet("/{id:int}", GetAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("Get a note").WithDescription("One note with its Markdown and the sanitised HTML the site shows.");
        g.MapPost("/", CreateAsync).RequireAuthorization(ApiPolicies.Write)
            .WithSummary("Write a note").WithDescription("Creates a draft, or a published note with publish true. The slug must be unused.");
        g.MapPut("/{id:int}", UpdateAsync).RequireAuthorization(ApiPolicies.Write)
            .WithSummary("Rewrite a note").WithDescription("Replaces the note's text, tags and date; its status stays unless publish is true. Notes owned by a file in notes/ are refused with 409.");
        g.MapPost("/{id:int}/publish", PublishAsync).RequireAuthorization(ApiPolicies.Write)
            .WithSummary("Publish a note").WithDescription("Puts the note on the site; publishing twice changes nothing.");
        g.MapPost("/{id:int}/unpublish", UnpublishAsync).RequireAuthorization(ApiPolicies.Write)
            .WithSummary("Unpublish a note").WithDescription("Takes the note off the site and back to draft.");
        return api;
    }

    private static async Task<Results<Ok<Page<NoteDto>>, ValidationProblem>> ListAsync(AppDbContext db, string? status, string? cursor, int? limit, CancellationToken ct)
    {
        if (!ApiResults.TryPaging(cursor, limit, out var before, out var take, out var problem))
        {
            return problem!;
        }

        var query = db.Notes.AsNoTracking().Include(n => n.Tags).Where(n => n.DeletedAt == null && n.Kind == NoteKind.Note);
        if (!string.IsNullOrEmpty(status))
        {
            if (!Enum.TryParse<NoteStatus>(status, ignoreCase: true, out var s) || !Enum.IsDefined(s) || int.TryParse(status, out _))
            {
                return ApiResults.Invalid("status", "Use draft or published.");
            }

            query = query.Where(n => n.Status == s);
        }

        if (before is { } b)
        {
            query = query.Where(n => n.Id < b);
        }

        var rows = await query.OrderByDescending(n => n.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(new Page<NoteDto>([.. rows.Take(take).Select(NoteDto.From)], rows.Count > take ? ApiResults.Cursor(rows[take - 1].Id) : null));
    }

    private static async Task<Results<Ok<NoteDto>, NotFoundProblem>> GetAsync(int id, AppDbContext db, CancellationToken ct) =>
        await FindAsync(db, id, ct) is { } n ? TypedResults.Ok(NoteDto.From(n)) : Missing(id);

    private static async Task<Results<Created<NoteDto>, ValidationProblem>> CreateAsync(NoteWrite body, NoteEditor editor, AppDbContext db, CancellationToken ct)
    {
        var result = await editor.SaveAsync(null, Input(body), body.Publish ? NoteIntent.Publish : NoteIntent.Save, ct);
        return result.Outcome == NoteEditOutcome.Saved
            ? TypedResults.Created($"{ApiExtensions.Prefix}/notes/{result.Note!.Id}", NoteDto.From((await FindAsync(db, result.Note.Id, ct))!))
            : ApiResults.Invalid(Fields(result.Errors));
    }

    private static async Task<Results<Ok<NoteDto>, NotFoundProblem, ValidationProblem, ConflictProblem>> UpdateAsync(int id, NoteWrite body, NoteEditor editor, AppDbContext db, CancellationToken ct)
    {
        var result = await editor.SaveAsync(id, Input(body), body.Publish ? NoteIntent.Publish : NoteIntent.Save, ct);
        return result.Outcome switch
        {
            NoteEditOutcome.NotFound => Missing(id),
            NoteEditOutcome.FileBacked => FileBacked(id),
            NoteEditOutcome.Invalid => ApiResults.Invalid(Fields(result.Errors)),
            _ => TypedResults.Ok(NoteDto.From((await FindAsync(db, id, ct))!)),
        };
    }

    private static Task<Results<Ok<NoteDto>, NotFoundProblem, ConflictProblem>> PublishAsync(int id, NoteEditor editor, AppDbContext db, CancellationToken ct) =>
        SetPublishedAsync(id, true, editor, db, ct);

    private static Task<Results<Ok<NoteDto>, NotFoundProblem, ConflictProblem>> UnpublishAsync(int id, NoteEditor editor, AppDbContext db, CancellationToken ct) =>
        SetPublishedAsync(id, false, editor, db, ct);

    private static async Task<Results<Ok<NoteDto>, NotFoundProblem, ConflictProblem>> SetPublishedAsync(int id, bool published, NoteEditor editor, AppDbContext db, CancellationToken ct) =>
        await editor.SetPublishedAsync(id, published, ct) switch
        {
            NoteEditOutcome.NotFound => Missing(id),
            NoteEditOutcome.FileBacked => FileBacked(id),
            _ => TypedResults.Ok(NoteDto.From((await FindAsync(db, id, ct))!)),
        };

    private static NoteInput Input(NoteWrite body) => new()
    {
        Title = body.Title ?? "",
        Slug = body.Slug,
        Date = body.Date,
        Tags = body.Tags is null ? null : string.Join(", ", body.Tags),
        Summary = body.Summary,
        Markdown = body.Markdown,
    };

    /// <summary>The editor names NoteInput's properties; the API's fields are their camelCase JSON names.</summary>
    private static Dictionary<string, string[]> Fields(IReadOnlyDictionary<string, string[]> errors) =>
        errors.ToDictionary(e => e.Key.Length == 0 ? "body" : char.ToLowerInvariant(e.Key[0]) + e.Key[1..], e => e.Value);

    private static Task<Note?> FindAsync(AppDbContext db, int id, CancellationToken ct) =>
        db.Notes.AsNoTracking().Include(n => n.Tags).FirstOrDefaultAsync(n => n.Id == id && n.DeletedAt == null && n.Kind == NoteKind.Note, ct);

    private static NotFoundProblem Missing(int id) => ApiResults.NotFound($"There is no note {id}.");

    private static ConflictProblem FileBacked(int id) =>
        ApiResults.Conflict($"Note {id} is owned by its file in notes/ and can only be changed there (then run import-notes).");
}
