using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Subscribers.Admin;

namespace Newsletter.Web.Api;

public sealed record SubscriberDto(long Id, string Email, string? Name, SubscriberStatus Status, IReadOnlyList<string> Tags, string Source, string? Consent,
    DateTime CreatedAt, DateTime? ConfirmedAt, DateTime? UnsubscribedAt, DateTime? PausedUntil)
{
    public static SubscriberDto From(Subscriber s) => new(s.Id, s.Email, s.Name, s.Status, [.. s.Tags.Select(t => t.Tag).Order(StringComparer.Ordinal)],
        s.Source, s.ConsentSource, s.CreatedAt, s.ConfirmedAt, s.UnsubscribedAt, s.PausedUntil);
}

/// <summary>A new subscriber. Without <c>doubleOptIn: false</c> they get a confirmation email and stay pending until they click it.</summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record SubscriberCreate([property: System.ComponentModel.DataAnnotations.Required] string? Email, string? Name, IReadOnlyList<string>? Tags, bool DoubleOptIn = true, string? Consent = null);

/// <summary>Changes to a subscriber; a field left out (null) stays as it is. Tags replace the reader's tags.</summary>
// A field it does not have is refused, not ignored: {"email": ...} or {"status": ...} answered 200 and changed nothing.
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record SubscriberUpdate(string? Name, IReadOnlyList<string>? Tags);

public sealed record TagCount(string Tag, int Subscribers);

public sealed record SubscriberEventDto(long Id, long SubscriberId, DateTime At, SubscriberEventKind Kind, string Source, string? Detail)
{
    public static SubscriberEventDto From(SubscriberEvent e) => new(e.Id, e.SubscriberId, e.At, e.Kind, e.Source, e.Detail);
}

/// <summary>/api/v1/subscribers: every change goes through <see cref="ReaderLifecycle"/>, as the admin's do.</summary>
public static class SubscribersApi
{
    /// <summary>What the reader's history and Subscriber.Source say for changes made through the API.</summary>
    public const string Source = "api";

    public static RouteGroupBuilder MapSubscribersApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/subscribers").WithTags("Subscribers");
        // Walking the list pages every address out, as the admin's CSV export does: owners only, and each walk is in
        // the audit log. One reader by id (an editor's script changing readers) needs the readers permission.
        g.MapGet("/", ListAsync).RequireAuthorization(ApiPolicies.Read, Newsletter.Web.Admin.AuthorPolicies.Owner)
            .WithSummary("List subscribers")
            .WithDescription("Newest first, filtered by status, tag and a search (any part of an address or a name; '@example.com' for a domain). Pages by cursor: pass 'next' back as 'cursor' until it is null. Owners' tokens only: it is the list's export, and each first page is written in the audit log.");
        g.MapGet("/{id:long}", GetAsync).RequireAuthorization(ApiPolicies.Read, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Get a subscriber").WithDescription("One subscriber with their tags and dates.");
        g.MapPost("/", CreateAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Add a subscriber")
            .WithDescription("With double opt-in (the default) the reader is pending and gets a confirmation email; with doubleOptIn false they are active at once and 'consent' must say where they agreed. A suppressed address (erased, bounced, complained) is refused.");
        g.MapPatch("/{id:long}", UpdateAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Change a subscriber's name or tags").WithDescription("Fields left out stay as they are; 'tags' replaces the reader's tags. The change is recorded in the reader's history.");
        g.MapPost("/{id:long}/unsubscribe", UnsubscribeAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Unsubscribe a subscriber").WithDescription("The reader gets no further issues; unsubscribing twice changes nothing.");
        g.MapDelete("/{id:long}", DeleteAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Delete a subscriber").WithDescription("Removes the record and its history; the address may subscribe or be imported again. One who unsubscribed is kept (409): deleting them would forget that choice; erase them if they asked to be forgotten. Audited.");
        g.MapPost("/{id:long}/erase", EraseAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Owner)
            .WithSummary("Erase a subscriber (GDPR)").WithDescription("Deletes every row that holds the address or the person's history and keeps only a SHA-256 of the address, so it is not imported or mailed again unless an author lifts the suppression (DELETE /api/v1/suppressions).");
        g.MapGet("/tags", TagsAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("List subscriber tags").WithDescription("Every tag in use, with how many subscribers carry it.");
        g.MapPut("/{id:long}/tags/{tag}", AddTagAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Tag a subscriber").WithDescription("Adds one tag (normalised to lower-case words and hyphens); adding it twice changes nothing.");
        g.MapDelete("/{id:long}/tags/{tag}", RemoveTagAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Untag a subscriber").WithDescription("Removes one tag; removing a tag the reader lacks changes nothing.");
        g.MapGet("/{id:long}/events", HistoryAsync).RequireAuthorization(ApiPolicies.Read, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("A subscriber's history").WithDescription("What happened to this reader, oldest first: subscribed, confirmed, edits, bounces, unsubscribes.");
        return api;
    }

    private static async Task<Results<Ok<Page<SubscriberDto>>, ValidationProblem>> ListAsync(AppDbContext db, Audit.AuditLog audit, HttpContext http, string? status, string? tag, string? q, string? cursor, int? limit, CancellationToken ct)
    {
        if (!ApiResults.TryPaging(cursor, limit, out var before, out var take, out var problem))
        {
            return problem!;
        }

        SubscriberStatus? wanted = null;
        if (!string.IsNullOrEmpty(status))
        {
            if (!Enum.TryParse<SubscriberStatus>(status, ignoreCase: true, out var s) || !Enum.IsDefined(s) || int.TryParse(status, out _))
            {
                return ApiResults.Invalid("status", $"Use one of: {string.Join(", ", Enum.GetNames<SubscriberStatus>().Select(n => n.ToLowerInvariant()))}.");
            }

            wanted = s;
        }

        var normalizedTag = string.IsNullOrWhiteSpace(tag) ? null : Notes.Tags.Normalize(tag);
        var search = string.IsNullOrWhiteSpace(q) ? null : q.Trim()[..Math.Min(q.Trim().Length, 254)];
        // The admin list's own filters, so the API and the page can't disagree on who matches.
        var query = new SubscriberQuery(search, wanted, normalizedTag).Apply(db).AsNoTracking();
        if (before is { } b)
        {
            query = query.Where(s => s.Id < b);
        }

        var rows = await query.Include(s => s.Tags).OrderByDescending(s => s.Id).Take(take + 1).ToListAsync(ct);
        var next = rows.Count > take ? ApiResults.Cursor(rows[take - 1].Id) : null;
        if (before is null)
        {
            // Once a walk, at its first page: the pages after it carry its cursor.
            await audit.RecordAsync(http.User, Audit.AuditActions.ReadersExport, "subscribers", null,
                $"the list through the API{(http.Request.QueryString.HasValue ? ", " + http.Request.QueryString.Value : "")}", ct);
        }

        return TypedResults.Ok(new Page<SubscriberDto>([.. rows.Take(take).Select(SubscriberDto.From)], next));
    }

    private static async Task<Results<Ok<SubscriberDto>, NotFoundProblem>> GetAsync(long id, AppDbContext db, CancellationToken ct) =>
        await FindAsync(db, id, ct) is { } s ? TypedResults.Ok(SubscriberDto.From(s)) : Missing(id);

    private static async Task<Results<Created<SubscriberDto>, ValidationProblem, ConflictProblem>> CreateAsync(SubscriberCreate body, ReaderLifecycle readers, AppDbContext db, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var email = "";
        if (!Newsletter.Mail.EmailAddress.TryNormalize(body.Email ?? "", out email, out var why))
        {
            errors["email"] = [why];
        }

        CheckName(body.Name, errors);
        var tags = CheckTags(body.Tags, errors);
        if (!body.DoubleOptIn && string.IsNullOrWhiteSpace(body.Consent))
        {
            errors["consent"] = ["Say where they agreed: adding someone without double opt-in needs a recorded consent."];
        }
        else if ((body.Consent?.Length ?? 0) > 500 || !ApiResults.IsOneLine(body.Consent))
        {
            errors["consent"] = ["The consent is one line of at most 500 characters."];
        }

        if (errors.Count > 0)
        {
            return ApiResults.Invalid(errors);
        }

        var (result, id) = await readers.AddByAuthorAsync(email, body.Name, tags, body.DoubleOptIn ? null : body.Consent, Source, ct);
        return result switch
        {
            AddReaderResult.Suppressed => ApiResults.Conflict("This address is suppressed (erased, bounced or complained) and can't be added again."),
            AddReaderResult.AlreadyOnList => ApiResults.Conflict("This address is already on the list."),
            _ => TypedResults.Created($"{ApiExtensions.Prefix}/subscribers/{id}", SubscriberDto.From((await FindAsync(db, id, ct))!)),
        };
    }

    private static async Task<Results<Ok<SubscriberDto>, NotFoundProblem, ValidationProblem>> UpdateAsync(long id, SubscriberUpdate body, ReaderLifecycle readers, AppDbContext db, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        CheckName(body.Name, errors);
        var tags = CheckTags(body.Tags, errors);
        if (errors.Count > 0)
        {
            return ApiResults.Invalid(errors);
        }

        var current = await FindAsync(db, id, ct);
        if (current is null)
        {
            return Missing(id);
        }

        var name = body.Name ?? current.Name;
        var wanted = body.Tags is null ? current.Tags.Select(t => t.Tag).ToHashSet(StringComparer.Ordinal) : tags.ToHashSet(StringComparer.Ordinal);
        if (name == current.Name && wanted.SetEquals(current.Tags.Select(t => t.Tag)))
        {
            // Nothing changes ({} or the same values again, as a sync script sends them): no history line saying it did.
            return TypedResults.Ok(SubscriberDto.From(current));
        }

        return await readers.EditByAuthorAsync(id, name, wanted, Source, ct) && await FindAsync(db, id, ct) is { } s
            ? TypedResults.Ok(SubscriberDto.From(s))
            : Missing(id);
    }

    private static async Task<Results<Ok<SubscriberDto>, NotFoundProblem>> UnsubscribeAsync(long id, ReaderLifecycle readers, AppDbContext db, CancellationToken ct) =>
        await readers.UnsubscribeAsync(id, Source, ct) && await FindAsync(db, id, ct) is { } s ? TypedResults.Ok(SubscriberDto.From(s)) : Missing(id);

    private static async Task<Results<NoContent, NotFoundProblem, ConflictProblem>> DeleteAsync(long id, ReaderLifecycle readers, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        var status = await db.Subscribers.AsNoTracking().Where(s => s.Id == id).Select(s => (SubscriberStatus?)s.Status).FirstOrDefaultAsync(ct);
        if (status is null)
        {
            return Missing(id);
        }

        if (ReaderLifecycle.WhyNotDeleted(status.Value) is { } why)
        {
            return ApiResults.Conflict(why);
        }

        if (await readers.DeleteAsync(id, erase: false, ct))
        {
            await audit.RecordAsync(user, Audit.AuditActions.ReaderDelete, "subscriber", id.ToString(System.Globalization.CultureInfo.InvariantCulture), $"deleted ({status.Value.ToString().ToLowerInvariant()}), through the API", ct);
        }

        return TypedResults.NoContent();
    }

    private static async Task<Results<NoContent, NotFoundProblem>> EraseAsync(long id, ReaderLifecycle readers, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        if (!await db.Subscribers.AnyAsync(s => s.Id == id, ct))
        {
            return Missing(id);
        }

        await readers.DeleteAsync(id, erase: true, ct);
        await audit.RecordAsync(user, Audit.AuditActions.ReaderErase, "subscriber", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "personal data erased, through the API", ct);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<TagCount[]>> TagsAsync(AppDbContext db, CancellationToken ct) =>
        TypedResults.Ok(await db.SubscriberTags.GroupBy(t => t.Tag).OrderBy(g => g.Key).Select(g => new TagCount(g.Key, g.Count())).ToArrayAsync(ct));

    private static Task<Results<Ok<SubscriberDto>, NotFoundProblem, ValidationProblem>> AddTagAsync(long id, string tag, ReaderLifecycle readers, AppDbContext db, CancellationToken ct) =>
        RetagAsync(id, tag, add: true, readers, db, ct);

    private static Task<Results<Ok<SubscriberDto>, NotFoundProblem, ValidationProblem>> RemoveTagAsync(long id, string tag, ReaderLifecycle readers, AppDbContext db, CancellationToken ct) =>
        RetagAsync(id, tag, add: false, readers, db, ct);

    private static async Task<Results<Ok<SubscriberDto>, NotFoundProblem, ValidationProblem>> RetagAsync(long id, string tag, bool add, ReaderLifecycle readers, AppDbContext db, CancellationToken ct)
    {
        var normalized = Notes.Tags.Normalize(tag);
        if (normalized.Length == 0)
        {
            return ApiResults.Invalid("tag", "A tag needs letters or digits.");
        }

        if (add && Notes.Tags.TooLong(tag) is { } tooLong)
        {
            return ApiResults.Invalid("tag", tooLong);
        }

        var current = await FindAsync(db, id, ct);
        if (current is null)
        {
            return Missing(id);
        }

        var tags = current.Tags.Select(t => t.Tag).ToHashSet(StringComparer.Ordinal);
        if (add ? tags.Add(normalized) : tags.Remove(normalized))
        {
            await readers.EditByAuthorAsync(id, current.Name, tags, Source, ct);
        }

        return await FindAsync(db, id, ct) is { } s ? TypedResults.Ok(SubscriberDto.From(s)) : Missing(id);
    }

    private static async Task<Results<Ok<SubscriberEventDto[]>, NotFoundProblem>> HistoryAsync(long id, AppDbContext db, CancellationToken ct)
    {
        if (!await db.Subscribers.AnyAsync(s => s.Id == id, ct))
        {
            return Missing(id);
        }

        var events = await db.SubscriberEvents.AsNoTracking().Where(e => e.SubscriberId == id).OrderBy(e => e.Id).Take(1000).ToListAsync(ct);
        return TypedResults.Ok(events.Select(SubscriberEventDto.From).ToArray());
    }

    private static Task<Subscriber?> FindAsync(AppDbContext db, long id, CancellationToken ct) =>
        db.Subscribers.AsNoTracking().Include(s => s.Tags).FirstOrDefaultAsync(s => s.Id == id, ct);

    private static NotFoundProblem Missing(long id) => ApiResults.NotFound($"There is no subscriber {id}.");

    private static void CheckName(string? name, Dictionary<string, string[]> errors)
    {
        if (!ApiResults.IsOneLine(name) || name?.Length > 200)
        {
            errors["name"] = ["A name is one line of at most 200 characters."];
        }
    }

    private static List<string> CheckTags(IReadOnlyList<string>? tags, Dictionary<string, string[]> errors)
    {
        var list = new List<string>();
        foreach (var (tag, i) in (tags ?? []).Select((t, i) => (t, i)))
        {
            var normalized = Notes.Tags.Normalize(tag ?? "");
            if (normalized.Length == 0)
            {
                errors[$"tags[{i}]"] = ["A tag needs letters or digits."];
            }
            else if (Notes.Tags.TooLong(tag ?? "") is { } tooLong)
            {
                errors[$"tags[{i}]"] = [tooLong];
            }
            else if (!list.Contains(normalized))
            {
                list.Add(normalized);
            }
        }

        if (list.Count > 50)
        {
            errors["tags"] = ["At most 50 tags."];
        }

        return list;
    }
}
