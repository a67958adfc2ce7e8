using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Api;

/// <summary>
/// /api/v1/events: the reader history of the whole list, oldest first, so a client can follow it: keep the last
/// page's 'next' and ask again later for what happened since (the webhooks' outbox will read the same rows).
/// </summary>
public static class EventsApi
{
    public static RouteGroupBuilder MapEventsApi(this RouteGroupBuilder api)
    {
        // Every reader's history, all of it: owners only, as the list's export is.
        api.MapGet("/events", ListAsync).RequireAuthorization(ApiPolicies.Read, Newsletter.Web.Admin.AuthorPolicies.Owner).WithTags("Events")
            .WithSummary("The reader history")
            .WithDescription("Every subscriber event (subscribed, confirmed, unsubscribed, bounced, complained, imported, edited...) oldest first, optionally of one kind or one subscriber. " +
                "'next' is never null while there are events: keep it and ask again later to get only newer ones. Erased readers' events are gone with them. Owners' tokens only.");
        return api;
    }

    private static async Task<Results<Ok<Page<SubscriberEventDto>>, ValidationProblem>> ListAsync(AppDbContext db, string? kind, long? subscriber, string? cursor, int? limit, CancellationToken ct)
    {
        if (!ApiResults.TryPaging(cursor, limit, out var after, out var take, out var problem))
        {
            return problem!;
        }

        var query = db.SubscriberEvents.AsNoTracking();
        if (!string.IsNullOrEmpty(kind))
        {
            if (!Enum.TryParse<SubscriberEventKind>(kind, ignoreCase: true, out var k) || !Enum.IsDefined(k) || int.TryParse(kind, out _))
            {
                return ApiResults.Invalid("kind", $"Use one of: {string.Join(", ", Enum.GetNames<SubscriberEventKind>())}.");
            }

            query = query.Where(e => e.Kind == k);
        }

        if (subscriber is { } id)
        {
            query = query.Where(e => e.SubscriberId == id);
        }

        if (after is { } a)
        {
            query = query.Where(e => e.Id > a);
        }

        var rows = await query.OrderBy(e => e.Id).Take(take).ToListAsync(ct);
        // Oldest first and never null: the last id seen is where the next call starts, now or in an hour.
        var next = rows.Count > 0 ? ApiResults.Cursor(rows[^1].Id) : cursor is { Length: > 0 } ? cursor : null;
        return TypedResults.Ok(new Page<SubscriberEventDto>([.. rows.Select(SubscriberEventDto.From)], next));
    }
}
