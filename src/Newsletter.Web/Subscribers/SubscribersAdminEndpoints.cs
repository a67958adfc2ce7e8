using System.Text;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Subscribers.Admin;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Web.Subscribers;

public static class SubscribersAdminEndpoints
{
    public static WebApplication MapSubscribersAdmin(this WebApplication app)
    {
        var admin = app.MapGroup("/admin").RequireAuthorization(AdminExtensions.AuthorPolicy);

        admin.MapGet("/api/imports/{id:int}", async (int id, AppDbContext db, CancellationToken ct) =>
            await db.SubscriberImports.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, ct) is { } i
                ? Results.Ok(new
                {
                    status = i.Status.ToString(),
                    percent = i.Status == ImportStatus.Completed ? 100 : i.Percent,
                    rows = i.Rows,
                    imported = i.Imported,
                    duplicates = i.Duplicates,
                    suppressed = i.Suppressed,
                    notMailed = i.NotMailed,
                    invalid = i.Invalid,
                    platform = i.Platform,
                    mapping = i.Mapping,
                    error = i.Error,
                    done = i.Status is ImportStatus.Completed or ImportStatus.Failed,
                })
                : Results.NotFound());

        admin.MapGet("/subscribers/imports/{id:int}/errors.csv", async (int id, ImportFiles files, CancellationToken ct) =>
            await files.OpenReadAsync(SubscriberImporter.ErrorsName(id), ct) is { } file
                ? Results.File(file, "text/csv; charset=utf-8", $"import-{id}-errors.csv")
                : Results.NotFound()).RequireAuthorization(AuthorPolicies.Readers);

        // Streamed straight from the query to the response: a million rows never sit in memory.
        // Every address on the list leaves the building: owners only, and written down with who did it.
        admin.MapGet("/subscribers/export.csv", async (HttpContext http, AppDbContext db, Audit.AuditLog audit, CancellationToken ct) =>
        {
            var query = SubscriberQuery.From(http.Request);
            var count = await query.Apply(db).CountAsync(ct);
            await audit.RecordAsync(http.User, Audit.AuditActions.ReadersExport, "subscribers", null,
                $"{count:N0} {(count == 1 ? "reader" : "readers")}{(http.Request.QueryString.HasValue ? " matching " + http.Request.QueryString.Value : "")}", ct);
            http.Response.ContentType = "text/csv; charset=utf-8";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"subscribers-{DateTime.UtcNow:yyyyMMdd-HHmm}.csv\"";
            await using var writer = new StreamWriter(http.Response.Body, new UTF8Encoding(false), 1 << 16);
            await writer.WriteLineAsync("email,name,status,tags,source,consent,subscribed,confirmed,unsubscribed");
            var rows = query.Apply(db).AsNoTracking().OrderBy(s => s.Id).Select(s => new
            {
                s.Email,
                s.Name,
                s.Status,
                Tags = db.SubscriberTags.Where(t => t.SubscriberId == s.Id).Select(t => t.Tag).ToList(),
                s.Source,
                s.ConsentSource,
                s.CreatedAt,
                s.ConfirmedAt,
                s.UnsubscribedAt,
            }).AsAsyncEnumerable();
            await foreach (var r in rows.WithCancellation(ct))
            {
                await writer.WriteLineAsync(string.Join(',',
                    CsvReader.Escape(r.Email), CsvReader.Escape(r.Name), r.Status.ToString().ToLowerInvariant(), CsvReader.Escape(string.Join(", ", r.Tags)),
                    CsvReader.Escape(r.Source), CsvReader.Escape(r.ConsentSource), Iso(r.CreatedAt), Iso(r.ConfirmedAt), Iso(r.UnsubscribedAt)));
            }
        }).RequireAuthorization(AuthorPolicies.Owner);
        return app;
    }

    private static string Iso(DateTime? value) => value?.ToString("yyyy-MM-ddTHH:mm:ssZ") ?? "";
}
