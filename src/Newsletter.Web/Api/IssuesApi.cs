using Hangfire;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Api;

public sealed record IssueDto(int Id, int? Number, string Slug, string Subject, string Preheader, string Summary, string Markdown, IssueStatus Status,
    IReadOnlyList<int> NoteIds, IReadOnlyList<string> Tags, SegmentDto Segment, IssueChannel Channel, DateTime? ScheduledAt, DateTime? StartedAt,
    DateTime? PublishedAt, DateTime? CompletedAt, string? PausedReason, int RecipientCount, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static IssueDto From(Issue i) => new(i.Id, i.Number, i.Slug, i.Subject, i.Preheader, i.Summary, i.Markdown, i.Status,
        [.. i.Notes.OrderBy(n => n.Position).Select(n => n.NoteId)], [.. i.Tags.Select(t => t.Tag).Order(StringComparer.Ordinal)], SegmentDto.From(i.Segment),
        i.WebOnly ? IssueChannel.Web : i.EmailOnly ? IssueChannel.Email : IssueChannel.Both, i.ScheduledAt, i.StartedAt, i.PublishedAt, i.CompletedAt,
        i.PausedReason, i.RecipientCount, i.CreatedAt, i.UpdatedAt);
}

/// <summary>
/// An issue's content. The slug is made from the subject when left out; noteIds are published notes included as sections, in order.
/// Segment picks its readers (left out: all active subscribers); audienceTag is the older one-topic form, read as a segment of that topic.
/// </summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record IssueWrite(string? Subject, string? Preheader, string? Slug, string? Markdown, IReadOnlyList<int>? NoteIds, IReadOnlyList<string>? Tags,
    string? AudienceTag, IssueChannel Channel = IssueChannel.Both, SegmentDto? Segment = null);

/// <summary>
/// Who an issue goes to; every condition set narrows it (AND). Topics: readers with any (match "any") or all (match "all") of them.
/// JoinedFrom / JoinedBefore: YYYY-MM-DD in the site's time zone. GotIssue / MissedIssue: the id of an earlier issue that went out by email.
/// </summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record SegmentDto(IReadOnlyList<string>? Topics = null, string? Match = null, string? JoinedFrom = null, string? JoinedBefore = null, int? GotIssue = null, int? MissedIssue = null)
{
    public static SegmentDto From(Segments.Segment s)
    {
        var input = Segments.SegmentInput.Of(s);
        return new([.. s.Topics], input.Match, input.JoinedFrom, input.JoinedBefore, s.GotIssue, s.MissedIssue);
    }

    public Segments.SegmentInput ToInput() => new(Topics, Match, JoinedFrom, JoinedBefore,
        GotIssue?.ToString(System.Globalization.CultureInfo.InvariantCulture), MissedIssue?.ToString(System.Globalization.CultureInfo.InvariantCulture));
}

public sealed record PreviewDto(string Subject, string Html, string Text, int HtmlBytes, IReadOnlyList<string> Warnings, int AudienceCount);

[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record TestSend(IReadOnlyList<string>? Addresses);

public sealed record TestSendQueued(IReadOnlyList<string> Addresses);

/// <summary>When to send, as an ISO 8601 time with an offset or Z.</summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record ScheduleRequest([property: System.Text.Json.Serialization.JsonConverter(typeof(WithOffset))] DateTimeOffset? At);

/// <summary>
/// A time to send must say its offset ("Z" or "+01:00"): without one, .NET would read it in the server's own time
/// zone, and the same request would send at different hours on differently configured hosts.
/// </summary>
public sealed class WithOffset : System.Text.Json.Serialization.JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options)
    {
        if (reader.TokenType == System.Text.Json.JsonTokenType.Null)
        {
            return null;
        }

        // One parser, System.Text.Json's ISO 8601 one, and then a check that the text carried its offset: without one,
        // that parser reads the time in the server's own zone, which would decide the hour of a send.
        return reader.TokenType == System.Text.Json.JsonTokenType.String
            && reader.TryGetDateTimeOffset(out var at)
            && HasOffset(reader.GetString()!)
            ? at
            // Without a message, so the API's error names the field and what it takes, as for any value of the wrong kind.
            : throw new System.Text.Json.JsonException();
    }

    private static bool HasOffset(string text) =>
        text.EndsWith('Z') || text.EndsWith('z')
        || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');

    public override void Write(System.Text.Json.Utf8JsonWriter writer, DateTimeOffset? value, System.Text.Json.JsonSerializerOptions options)
    {
        if (value is { } v)
        {
            writer.WriteStringValue(v);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

public sealed record RetryQueued(int Deliveries);

/// <summary>
/// /api/v1/issues: drafts through <see cref="IssueEditor"/>, sending through <see cref="IssueSender"/>, exactly as
/// the admin's pages do. Sending takes the "send" scope: it mails real readers.
/// </summary>
public static class IssuesApi
{
    public static RouteGroupBuilder MapIssuesApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/issues").WithTags("Issues");
        g.MapGet("/", ListAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("List issues").WithDescription("Newest first, optionally filtered by status. Pages by cursor.");
        g.MapGet("/{id:int}", GetAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("Get an issue").WithDescription("One issue with its Markdown, state, schedule and counts.");
        g.MapPost("/", CreateAsync).RequireAuthorization(ApiPolicies.Write)
            .WithSummary("Compose an issue").WithDescription("Creates a draft with this content. The subject is one line; the slug must be unused.");
        g.MapPut("/{id:int}", UpdateAsync).RequireAuthorization(ApiPolicies.Write)
            .WithSummary("Rewrite an issue").WithDescription("Replaces a draft's or scheduled issue's content; once it is sending or sent it answers 409.");
        g.MapDelete("/{id:int}", DeleteAsync).RequireAuthorization(ApiPolicies.Write)
            .WithSummary("Delete a draft").WithDescription("Only a draft can be deleted; anything else answers 409.");
        g.MapGet("/{id:int}/preview", PreviewAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("Preview an issue's email").WithDescription("The email's subject, HTML and text as a reader would get it, the preflight warnings (broken links, missing alt text, Gmail clipping) and how many readers a send would reach now.");
        g.MapPost("/{id:int}/test", TestAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Send test copies").WithDescription("Sends the issue to 1 to 5 addresses, subject prefixed [Test], from a background job. The issue's state does not change.");
        g.MapPost("/{id:int}/schedule", ScheduleAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Schedule an issue").WithDescription("Sends at the given time (ISO 8601 with an offset). A time up to a minute ago sends now (a clock a little behind); an earlier one is refused, since send is the call for at once. An issue already starting or sent answers 409.");
        g.MapPost("/{id:int}/unschedule", UnscheduleAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Unschedule an issue").WithDescription("A scheduled issue goes back to draft; anything else answers 409.");
        g.MapPost("/{id:int}/send", SendAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Send an issue now").WithDescription("Starts the send in the background; follow it with progress. A second request while it starts or sends answers 409 and sends nothing twice; so does an issue that includes a note that is not published, naming it.");
        g.MapPost("/{id:int}/pause", PauseAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Pause a send").WithDescription("Workers stop after their current batch; resume carries on where it stopped.");
        g.MapPost("/{id:int}/resume", ResumeAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Resume a paused send").WithDescription("Carries on sending to whoever has not got the issue yet.");
        g.MapPost("/{id:int}/cancel", CancelAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Cancel a send").WithDescription("Stops within one batch; nobody else receives it and the rest of the ledger is marked skipped.");
        g.MapPost("/{id:int}/retry-failed", RetryFailedAsync).RequireAuthorization(ApiPolicies.Send)
            .WithSummary("Send again to failed deliveries").WithDescription("Failed, deferred and held deliveries of still-active readers go back to pending. Hard bounces are never retried.");
        g.MapGet("/{id:int}/progress", ProgressAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("An issue's send progress").WithDescription("Counts of the ledger (sent, deferred, failed, skipped, uncertain, held), the rate, an ETA and whether the send is done.");
        // Every recipient's address: owners only, as in the admin, and written down with who took it.
        g.MapGet("/{id:int}/ledger", LedgerAsync).RequireAuthorization(ApiPolicies.Read, Newsletter.Web.Admin.AuthorPolicies.Owner)
            .Produces<LedgerLine>(StatusCodes.Status200OK, "application/jsonl", "text/csv")
            .WithSummary("An issue's ledger: who got what").WithDescription("One line per recipient with the delivery's status, attempts, SMTP code and time, streamed. format=jsonl (JSON lines, the default) or format=csv. An erased reader's line has no address. A token of an owner only; each download is in the audit log.");
        return api;
    }

    private static async Task<Results<Ok<Page<IssueDto>>, ValidationProblem>> ListAsync(AppDbContext db, string? status, string? cursor, int? limit, CancellationToken ct)
    {
        if (!ApiResults.TryPaging(cursor, limit, out var before, out var take, out var problem))
        {
            return problem!;
        }

        var query = db.Issues.AsNoTracking().Include(i => i.Notes).Include(i => i.Tags).Where(i => i.DeletedAt == null);
        if (!string.IsNullOrEmpty(status))
        {
            if (!Enum.TryParse<IssueStatus>(status, ignoreCase: true, out var s) || !Enum.IsDefined(s) || int.TryParse(status, out _))
            {
                return ApiResults.Invalid("status", $"Use one of: {string.Join(", ", Enum.GetNames<IssueStatus>().Select(n => n.ToLowerInvariant()))}.");
            }

            query = query.Where(i => i.Status == s);
        }

        if (before is { } b)
        {
            query = query.Where(i => i.Id < b);
        }

        var rows = await query.AsSplitQuery().OrderByDescending(i => i.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(new Page<IssueDto>([.. rows.Take(take).Select(IssueDto.From)], rows.Count > take ? ApiResults.Cursor(rows[take - 1].Id) : null));
    }

    private static async Task<Results<Ok<IssueDto>, NotFoundProblem>> GetAsync(int id, AppDbContext db, CancellationToken ct) =>
        await FindAsync(db, id, ct) is { } i ? TypedResults.Ok(IssueDto.From(i)) : Missing(id);

    private static async Task<Results<Created<IssueDto>, ValidationProblem>> CreateAsync(IssueWrite body, IssueEditor editor, AppDbContext db, CancellationToken ct)
    {
        // Checked before the draft exists, so a refused body leaves no empty draft behind.
        var errors = Check(body);
        if (errors.Count > 0)
        {
            return ApiResults.Invalid(errors);
        }

        var issue = await editor.CreateAsync(ct);
        var result = await editor.SaveAsync(issue.Id, Draft(body), ct);
        if (result.Outcome != IssueEditOutcome.Saved)
        {
            await editor.DeleteDraftAsync(issue.Id, ct);
            return ApiResults.Invalid(result.Errors);
        }

        return TypedResults.Created($"{ApiExtensions.Prefix}/issues/{issue.Id}", IssueDto.From((await FindAsync(db, issue.Id, ct))!));
    }

    private static async Task<Results<Ok<IssueDto>, NotFoundProblem, ValidationProblem, ConflictProblem>> UpdateAsync(int id, IssueWrite body, IssueEditor editor, AppDbContext db,
        IAuthorizationService authorization, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        var errors = Check(body);
        if (errors.Count > 0)
        {
            return ApiResults.Invalid(errors);
        }

        var maySend = (await authorization.AuthorizeAsync(user, ApiPolicies.Send)).Succeeded;
        var result = await editor.SaveAsync(id, Draft(body), maySend, ct);
        if (result.WasScheduled)
        {
            await audit.IssueAsync(user, Audit.AuditActions.IssueEdit, id, "changed while scheduled, through the API", ct);
        }

        return result.Outcome switch
        {
            IssueEditOutcome.NotFound => Missing(id),
            IssueEditOutcome.NotEditable => ApiResults.Conflict($"Issue {id} is being sent or was sent; it can no longer be edited."),
            IssueEditOutcome.ScheduledForSenders => ApiResults.Conflict($"Issue {id} is scheduled: what it says and whom it reaches goes out at its time, so changing it takes the 'send' scope. Nothing was saved; unschedule it first with a token that has it."),
            IssueEditOutcome.Invalid => ApiResults.Invalid(result.Errors),
            _ => TypedResults.Ok(IssueDto.From((await FindAsync(db, id, ct))!)),
        };
    }

    private static async Task<Results<NoContent, NotFoundProblem, ConflictProblem>> DeleteAsync(int id, IssueEditor editor, AppDbContext db, CancellationToken ct)
    {
        if (await FindAsync(db, id, ct) is null)
        {
            return Missing(id);
        }

        return await editor.DeleteDraftAsync(id, ct) ? TypedResults.NoContent() : ApiResults.Conflict($"Issue {id} is not a draft; only drafts can be deleted.");
    }

    private static async Task<Results<Ok<PreviewDto>, NotFoundProblem, ConflictProblem>> PreviewAsync(int id, IssuePreviews previews, CancellationToken ct)
    {
        var preview = await previews.BuildAsync(id, "preview@example.org", ct);
        if (preview is null)
        {
            return Missing(id);
        }

        return preview.NothingYet is { } why
            ? ApiResults.Conflict($"Nothing to preview yet: {why}")
            : TypedResults.Ok(new PreviewDto(preview.Subject, preview.Html, preview.Text, preview.HtmlBytes, preview.Warnings, preview.AudienceCount));
    }

    private static async Task<Results<Accepted<TestSendQueued>, NotFoundProblem, ValidationProblem, ConflictProblem, TooManyProblem>> TestAsync(int id, TestSend body, AppDbContext db, TestSends tests, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        if (!TestSendJob.TryCheck(body.Addresses ?? [], out var addresses, out var error))
        {
            return ApiResults.Invalid("addresses", error);
        }

        var issue = await FindAsync(db, id, ct);
        if (issue is null)
        {
            return Missing(id);
        }

        if (!IssueEditor.IsReady(issue))
        {
            return NotReady(id);
        }

        return await tests.QueueAsync(user, id, addresses, ct) switch
        {
            { TooMany: true } refused => new TooManyProblem(refused.Why),
            { } refused => ApiResults.Conflict(refused.Why),
            null => TypedResults.Accepted($"{ApiExtensions.Prefix}/issues/{id}", new TestSendQueued(addresses)),
        };
    }

    private static async Task<Results<Accepted<IssueDto>, NotFoundProblem, ValidationProblem, ConflictProblem>> ScheduleAsync(int id, ScheduleRequest body, IssueEditor editor, AppDbContext db, TimeProvider clock, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        if (body.At is not { } at)
        {
            return ApiResults.Invalid("at", "Give the time to send, e.g. 2026-12-01T09:00:00+01:00.");
        }

        if (at.UtcDateTime < clock.GetUtcNow().UtcDateTime.AddMinutes(-1))
        {
            return ApiResults.Invalid("at", "That time is in the past. Use send to send at once.");
        }

        if (IssueEditor.TooFarAhead(at.UtcDateTime, clock.GetUtcNow().UtcDateTime) is { } far)
        {
            return ApiResults.Invalid("at", far);
        }

        return await StartAsync(id, at.UtcDateTime, editor, db, audit, user, Audit.AuditActions.IssueSchedule, $"for {at:yyyy-MM-dd HH:mm zzz}, through the API", ct);
    }

    private static async Task<Results<Accepted<IssueDto>, NotFoundProblem, ValidationProblem, ConflictProblem>> SendAsync(int id, IssueEditor editor, AppDbContext db, TimeProvider clock, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct) =>
        await StartAsync(id, clock.GetUtcNow().UtcDateTime, editor, db, audit, user, Audit.AuditActions.IssueSend, "now, through the API", ct);

    private static async Task<Results<Accepted<IssueDto>, NotFoundProblem, ValidationProblem, ConflictProblem>> StartAsync(int id, DateTime utc, IssueEditor editor, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, string action, string detail, CancellationToken ct)
    {
        var outcome = await editor.ScheduleAsync(id, utc, ct);
        if (outcome == ScheduleOutcome.Scheduled)
        {
            await audit.IssueAsync(user, action, id, detail, ct);
        }

        return outcome switch
        {
            ScheduleOutcome.NotFound => Missing(id),
            ScheduleOutcome.NotReady => NotReady(id),
            ScheduleOutcome.NoteNotPublished => ApiResults.Conflict($"Issue {id} was not sent: {editor.UnpublishedNote}"),
            ScheduleOutcome.AlreadyGoing => ApiResults.Conflict($"Issue {id} is already starting, sending or sent; nothing was sent twice. Follow it with {ApiExtensions.Prefix}/issues/{id}/progress."),
            _ => TypedResults.Accepted($"{ApiExtensions.Prefix}/issues/{id}/progress", IssueDto.From((await FindAsync(db, id, ct))!)),
        };
    }

    private static async Task<Results<Ok<IssueDto>, NotFoundProblem, ConflictProblem>> UnscheduleAsync(int id, IssueEditor editor, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct) =>
        await Changed(id, await Audited(await editor.UnscheduleAsync(id, ct), audit, user, Audit.AuditActions.IssueUnschedule, id, ct), "is not scheduled", db, ct);

    private static async Task<Results<Ok<IssueDto>, NotFoundProblem, ConflictProblem>> PauseAsync(int id, IssueSender sender, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct) =>
        await Changed(id, await Audited(await sender.PauseAsync(id, "Paused through the API.", ct), audit, user, Audit.AuditActions.IssuePause, id, ct), "is not sending, so there is nothing to pause", db, ct);

    private static async Task<Results<Ok<IssueDto>, NotFoundProblem, ConflictProblem>> ResumeAsync(int id, IssueSender sender, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct) =>
        await Changed(id, await Audited(await sender.ResumeAsync(id, ct), audit, user, Audit.AuditActions.IssueResume, id, ct), "is not paused", db, ct);

    private static async Task<Results<Ok<IssueDto>, NotFoundProblem, ConflictProblem>> CancelAsync(int id, IssueSender sender, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct) =>
        await Changed(id, await Audited(await sender.CancelAsync(id, ct), audit, user, Audit.AuditActions.IssueCancel, id, ct), "is not preparing, sending or paused, so there is nothing to cancel", db, ct);

    private static async Task<Results<Ok<RetryQueued>, NotFoundProblem>> RetryFailedAsync(int id, IssueSender sender, AppDbContext db, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        if (await FindAsync(db, id, ct) is null)
        {
            return Missing(id);
        }

        var n = await sender.RetryFailedAsync(id, ct);
        await Audited(n > 0, audit, user, Audit.AuditActions.IssueRetry, id, ct);
        return TypedResults.Ok(new RetryQueued(n));
    }

    /// <summary>Writes the audit row when the action changed something, and passes its result on.</summary>
    private static async Task<bool> Audited(bool changed, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, string action, int id, CancellationToken ct)
    {
        if (changed)
        {
            await audit.IssueAsync(user, action, id, "through the API", ct);
        }

        return changed;
    }

    private static async Task<Results<Ok<ProgressReport>, NotFoundProblem>> ProgressAsync(int id, AppDbContext db, IssueProgress progress, CancellationToken ct)
    {
        var issue = await db.Issues.AsNoTracking().Where(i => i.Id == id && i.DeletedAt == null).Select(i => new { i.Status, i.PausedReason }).FirstOrDefaultAsync(ct);
        return issue is null ? Missing(id) : TypedResults.Ok(ProgressReport.From(issue.Status, issue.PausedReason, await progress.ReadAsync(id, issue.Status, ct)));
    }

    private static async Task<Results<EmptyHttpResult, NotFoundProblem, ValidationProblem>> LedgerAsync(int id, string? format, HttpContext http, AppDbContext db, Audit.AuditLog audit, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, CancellationToken ct)
    {
        format = (format ?? "jsonl").ToLowerInvariant();
        if (format is not ("jsonl" or "csv"))
        {
            return ApiResults.Invalid("format", "Use jsonl (JSON lines) or csv.");
        }

        var slug = await db.Issues.AsNoTracking().Where(i => i.Id == id && i.DeletedAt == null).Select(i => i.Slug).FirstOrDefaultAsync(ct);
        if (slug is null)
        {
            return Missing(id);
        }

        await audit.IssueAsync(http.User, Audit.AuditActions.LedgerExport, id, $"delivery ledger ({format.ToUpperInvariant()}, API)", ct);
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"deliveries-{slug}.{format}\"";
        if (format == "csv")
        {
            http.Response.ContentType = "text/csv; charset=utf-8";
            await LedgerExport.WriteCsvAsync(db, id, http.Response.Body, ct);
        }
        else
        {
            http.Response.ContentType = "application/jsonl; charset=utf-8";
            await LedgerExport.WriteJsonLinesAsync(db, id, http.Response.Body, json.Value.SerializerOptions, ct);
        }

        return TypedResults.Empty;
    }

    /// <summary>Fields whose fault is the request's own, checked before anything is written.</summary>
    private static Dictionary<string, string[]> Check(IssueWrite body)
    {
        var errors = new Dictionary<string, string[]>();
        if (!ApiResults.IsOneLine(body.Preheader))
        {
            errors["preheader"] = ["The preheader is one line."];
        }

        if (!ApiResults.IsOneLine(body.Slug))
        {
            errors["slug"] = ["The slug may only hold a-z, 0-9 and inner hyphens."];
        }

        if (!Enum.IsDefined(body.Channel))
        {
            errors["channel"] = ["Use Both, Web or Email."];
        }

        return errors;
    }

    private static IssueDraft Draft(IssueWrite body) =>
        new(body.Subject, body.Preheader, body.Slug, body.Markdown, body.NoteIds, body.Tags,
            body.Segment?.ToInput() ?? (string.IsNullOrWhiteSpace(body.AudienceTag) ? null : new Segments.SegmentInput([body.AudienceTag], "any", null, null, null, null)),
            body.Channel);

    private static async Task<Results<Ok<IssueDto>, NotFoundProblem, ConflictProblem>> Changed(int id, bool changed, string why, AppDbContext db, CancellationToken ct)
    {
        var issue = await FindAsync(db, id, ct);
        return issue is null ? Missing(id) : changed ? TypedResults.Ok(IssueDto.From(issue)) : ApiResults.Conflict($"Issue {id} {why} (it is {issue.Status}).");
    }

    private static Task<Issue?> FindAsync(AppDbContext db, int id, CancellationToken ct) =>
        db.Issues.AsNoTracking().Include(i => i.Notes).Include(i => i.Tags).AsSplitQuery().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);

    private static NotFoundProblem Missing(int id) => ApiResults.NotFound($"There is no issue {id}.");

    private static ConflictProblem NotReady(int id) => ApiResults.Conflict($"Issue {id} has no subject yet: save it with one before sending.");
}
