using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Api;

/// <summary>A suppressed address: only its SHA-256 is kept (<see cref="Subscriber.HashOf"/>), so the list can match an address but never show one.</summary>
public sealed record SuppressionDto(long Id, string EmailHash, SuppressionReason Reason, DateTime CreatedAt);

public sealed record SuppressionCheck(string Email, bool Suppressed, SuppressionReason? Reason);

[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record SuppressionCreate([property: System.ComponentModel.DataAnnotations.Required] string? Email);

/// <summary>/api/v1/suppressions: addresses that must never be mailed or imported again.</summary>
public static class SuppressionsApi
{
    public static RouteGroupBuilder MapSuppressionsApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/suppressions").WithTags("Suppressions");
        g.MapGet("/", ListAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("List suppressions").WithDescription("Newest first, by hash and reason (erased, hard bounce, complaint, manual). Pages by cursor.");
        g.MapGet("/check", CheckAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("Is an address suppressed?").WithDescription("Hashes the address as the list does and says whether, and why, it is suppressed.");
        g.MapPost("/", CreateAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Suppress an address").WithDescription("The address is never mailed or imported again; a subscriber who has it is unsubscribed. Suppressing it twice changes nothing (200 instead of 201).");
        g.MapDelete("/", DeleteAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .WithSummary("Lift a suppression").WithDescription("The address may be mailed, imported or subscribe again (?email=). A bounced or complained subscriber who has it becomes unsubscribed, so nothing goes to them until they subscribe again or are added. 404 when the address is not suppressed. Audited.");
        return api;
    }

    private static async Task<Results<NoContent, NotFoundProblem, ValidationProblem>> DeleteAsync(string? email, ReaderLifecycle readers, Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        if (!Newsletter.Mail.EmailAddress.TryNormalize(email ?? "", out var normalized, out var why))
        {
            return ApiResults.Invalid("email", why);
        }

        if (!await readers.LiftSuppressionAsync(normalized, SubscribersApi.Source, ct))
        {
            return ApiResults.NotFound("That address is not suppressed.");
        }

        // Named by the hash only: the audit log keeps no address an erase could not reach.
        await audit.RecordAsync(user, Audit.AuditActions.SuppressionLift, "suppression", null, "lifted, through the API", ct);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<Page<SuppressionDto>>, ValidationProblem>> ListAsync(AppDbContext db, string? cursor, int? limit, CancellationToken ct)
    {
        if (!ApiResults.TryPaging(cursor, limit, out var before, out var take, out var problem))
        {
            return problem!;
        }

        var query = db.Suppressions.AsNoTracking();
        if (before is { } b)
        {
            query = query.Where(s => s.Id < b);
        }

        var rows = await query.OrderByDescending(s => s.Id).Take(take + 1).Select(s => new SuppressionDto(s.Id, s.EmailHash, s.Reason, s.CreatedAt)).ToListAsync(ct);
        return TypedResults.Ok(new Page<SuppressionDto>([.. rows.Take(take)], rows.Count > take ? ApiResults.Cursor(rows[take - 1].Id) : null));
    }

    private static async Task<Results<Ok<SuppressionCheck>, ValidationProblem>> CheckAsync(string? email, AppDbContext db, AddressHashes hashes, CancellationToken ct)
    {
        if (!Newsletter.Mail.EmailAddress.TryNormalize(email ?? "", out var normalized, out var why))
        {
            return ApiResults.Invalid("email", why);
        }

        var hash = hashes.Of(normalized);
        var found = await db.Suppressions.AsNoTracking().Where(s => s.EmailHash == hash).Select(s => (SuppressionReason?)s.Reason).FirstOrDefaultAsync(ct);
        return TypedResults.Ok(new SuppressionCheck(normalized, found is not null, found));
    }

    private static async Task<Results<Created<SuppressionCheck>, Ok<SuppressionCheck>, ValidationProblem>> CreateAsync(SuppressionCreate body, ReaderLifecycle readers, AppDbContext db, Subscribers.AddressHashes hashes, CancellationToken ct)
    {
        if (!Newsletter.Mail.EmailAddress.TryNormalize(body.Email ?? "", out var normalized, out var why))
        {
            return ApiResults.Invalid("email", why);
        }

        if (await readers.SuppressAddressAsync(normalized, SubscribersApi.Source, ct))
        {
            return TypedResults.Created($"{ApiExtensions.Prefix}/suppressions/check?email={Uri.EscapeDataString(normalized)}", new SuppressionCheck(normalized, true, SuppressionReason.Manual));
        }

        // Suppressed already: the reason it has (a bounce, a complaint, an earlier manual one), as the check says it.
        var hash = hashes.Of(normalized);
        var reason = await db.Suppressions.AsNoTracking().Where(s => s.EmailHash == hash).Select(s => (SuppressionReason?)s.Reason).FirstOrDefaultAsync(ct);
        return TypedResults.Ok(new SuppressionCheck(normalized, true, reason));
    }
}
