using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Web.Api;

public sealed record ImportDto(int Id, string FileName, ImportStatus Status, int Percent, int Rows, int Imported, int Duplicates, int Suppressed, int Invalid,
    string? Error, bool Done, bool Active, string? Tags, DateTime CreatedAt, DateTime? FinishedAt, string? Platform, string? Mapping, int NotMailed)
{
    public static ImportDto From(SubscriberImport i) => new(i.Id, i.FileName, i.Status, i.Status == ImportStatus.Completed ? 100 : i.Percent, i.Rows, i.Imported,
        i.Duplicates, i.Suppressed, i.Invalid, i.Error, i.Status is ImportStatus.Completed or ImportStatus.Failed, i.ImportAsActive, i.Tags, i.CreatedAt, i.FinishedAt,
        i.Platform, i.Mapping, i.NotMailed);
}

/// <summary>/api/v1/imports: the admin's CSV import (same importer, same job, same per-row errors), fed from a request body.</summary>
public static class ImportsApi
{
    private static readonly string[] CsvTypes = ["text/csv", "text/plain", "application/csv", "application/octet-stream"];

    public static RouteGroupBuilder MapImportsApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/imports").WithTags("Imports");
        g.MapPost("/", UploadAsync).RequireAuthorization(ApiPolicies.Write, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .Accepts<string>("text/csv")
            .WithMetadata(new RequestSizeLimitAttribute(SubscriberImporter.MaxUploadBytes))
            .WithSummary("Import subscribers from CSV")
            .WithDescription("The body is the CSV file (Content-Type: text/csv, UTF-8, a header row naming at least an email column). Rows are pending and get a confirmation email, unless active=true with a consent saying where they agreed. " +
                "The import runs in the background: poll the returned import until done is true. Duplicates are skipped and suppressed addresses stay out. " +
                "An export from Substack, Mailchimp, Buttondown, Ghost, listmonk or Kit is recognised by its header (platform and mapping say so) and keeps each reader's status there: " +
                "those who unsubscribed, bounced or complained arrive in that state and are never mailed (notMailed counts them).");
        g.MapGet("/", ListAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("List imports").WithDescription("The most recent imports first, with their counts. Pages by cursor.");
        g.MapGet("/{id:int}", GetAsync).RequireAuthorization(ApiPolicies.Read)
            .WithSummary("Get an import's progress").WithDescription("Counts so far and whether it is done; a failed import says why in 'error'.");
        // The refused rows are addresses: owners and editors only, as on the admin page (a viewer sees counts).
        g.MapGet("/{id:int}/errors", ErrorsAsync).RequireAuthorization(ApiPolicies.Read, Newsletter.Web.Admin.AuthorPolicies.Readers)
            .Produces<string>(StatusCodes.Status200OK, "text/csv")
            .WithSummary("Rows an import refused").WithDescription("A CSV of the refused rows: the file's line number, the address and the reason.");
        return api;
    }

    private static async Task<Results<Accepted<ImportDto>, ValidationProblem, ProblemHttpResult>> UploadAsync(HttpRequest request, AppDbContext db, AppPaths paths, ImportFiles files, IBackgroundJobClient jobs,
        Audit.AuditLog audit, System.Security.Claims.ClaimsPrincipal user, string? tags, bool? active, string? consent, string? fileName, CancellationToken ct)
    {
        var type = request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        if (type is null || !CsvTypes.Contains(type))
        {
            return TypedResults.Problem("Send the CSV file itself as the body, with Content-Type: text/csv.", statusCode: StatusCodes.Status415UnsupportedMediaType);
        }

        var errors = new Dictionary<string, string[]>();
        if (SubscriberImporter.ConsentProblem(active == true, consent) is { } consentProblem)
        {
            errors["consent"] = [consentProblem];
        }
        else if ((consent?.Length ?? 0) > 500 || !ApiResults.IsOneLine(consent))
        {
            errors["consent"] = ["The consent is one line of at most 500 characters."];
        }

        if ((tags?.Length ?? 0) > 500 || !ApiResults.IsOneLine(tags))
        {
            errors["tags"] = ["Tags are one comma-separated line of at most 500 characters."];
        }

        if (errors.Count > 0)
        {
            return ApiResults.Invalid(errors);
        }

        // The body goes to a file of its own first: an upload cut off half-way (a dropped connection, a body over
        // the limit) leaves no import behind that a restart would then run on half a file.
        var staging = Path.Combine(paths.DataFolder, "imports", $"upload-{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(Path.GetDirectoryName(staging)!);
        try
        {
            await using (var file = File.Create(staging))
            {
                await request.Body.CopyToAsync(file, ct);
            }

            if (new FileInfo(staging).Length == 0)
            {
                return ApiResults.Invalid("body", "The CSV file is empty.");
            }

            await using var content = File.OpenRead(staging);
            var name = string.IsNullOrWhiteSpace(fileName) || !ApiResults.IsOneLine(fileName) ? "api-upload.csv" : Path.GetFileName(fileName);
            var import = await SubscriberImporter.StoreAsync(db, files, content, name, active == true, consent, tags, ct);
            jobs.Enqueue<SubscriberImporter>(i => i.RunAsync(import.Id, CancellationToken.None));
            // Audited as the admin's upload is: who brought which list in, and on what consent.
            await audit.RecordAsync(user, Audit.AuditActions.ReadersImport, "import", import.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                SubscriberImporter.AuditDetail(name, active == true, consent) + ", through the API", ct);
            return TypedResults.Accepted($"{ApiExtensions.Prefix}/imports/{import.Id}", ImportDto.From(import));
        }
        finally
        {
            File.Delete(staging);
        }
    }

    // Paged like every other list: it was the newest 50 as a bare array, so a script could neither reach older
    // imports nor read it the way it reads the rest of the API.
    private static async Task<Results<Ok<Page<ImportDto>>, ValidationProblem>> ListAsync(AppDbContext db, string? cursor, int? limit, CancellationToken ct)
    {
        if (!ApiResults.TryPaging(cursor, limit, out var before, out var take, out var problem))
        {
            return problem!;
        }

        var query = db.SubscriberImports.AsNoTracking();
        if (before is { } b)
        {
            query = query.Where(i => i.Id < b);
        }

        var rows = await query.OrderByDescending(i => i.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(new Page<ImportDto>([.. rows.Take(take).Select(ImportDto.From)], rows.Count > take ? ApiResults.Cursor(rows[take - 1].Id) : null));
    }

    private static async Task<Results<Ok<ImportDto>, NotFoundProblem>> GetAsync(int id, AppDbContext db, CancellationToken ct) =>
        await db.SubscriberImports.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, ct) is { } i ? TypedResults.Ok(ImportDto.From(i)) : ApiResults.NotFound($"There is no import {id}.");

    private static async Task<Results<FileStreamHttpResult, NotFoundProblem>> ErrorsAsync(int id, AppDbContext db, ImportFiles files, CancellationToken ct)
    {
        if (!await db.SubscriberImports.AnyAsync(i => i.Id == id, ct))
        {
            return ApiResults.NotFound($"There is no import {id}.");
        }

        return await files.OpenReadAsync(SubscriberImporter.ErrorsName(id), ct) is { } file
            ? TypedResults.Stream(file, "text/csv; charset=utf-8", $"import-{id}-errors.csv")
            : ApiResults.NotFound($"Import {id} refused no rows.");
    }
}
