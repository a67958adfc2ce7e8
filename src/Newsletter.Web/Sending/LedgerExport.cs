using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Web.Sending;

/// <summary>One row of an issue's ledger as an author downloads it. An erased reader's row stays, without the address.</summary>
public sealed record LedgerLine(string? Email, DeliveryStatus Status, int Attempts, int? SmtpCode, DateTime? SentAt, bool Uncertain, string? LastError);

/// <summary>
/// Who got what: every row of an issue's ledger, streamed from the query to the response, so even a
/// million-reader send downloads without sitting in memory. The admin's CSV and the API's CSV and JSON lines.
/// </summary>
public static class LedgerExport
{
    public const string CsvHeader = "email,status,attempts,smtp_code,sent_at,uncertain,last_error";

    public static IAsyncEnumerable<LedgerLine> Lines(AppDbContext db, int issueId) =>
        (from d in db.Deliveries.AsNoTracking()
         where d.IssueId == issueId
         orderby d.Id
         select new { Email = db.Subscribers.Where(s => s.Id == d.SubscriberId).Select(s => s.Email).FirstOrDefault(), d.Status, d.Attempts, d.SmtpCode, d.SentAtMs, d.Uncertain, d.LastError })
        .AsAsyncEnumerable()
        .Select(r => new LedgerLine(r.Email, r.Status, r.Attempts, r.SmtpCode, r.SentAtMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime : null, r.Uncertain, r.LastError));

    public static async Task WriteCsvAsync(AppDbContext db, int issueId, Stream body, CancellationToken ct)
    {
        await using var writer = new StreamWriter(body, new UTF8Encoding(false), 1 << 16);
        await writer.WriteLineAsync(CsvHeader);
        await foreach (var r in Lines(db, issueId).WithCancellation(ct))
        {
            await writer.WriteLineAsync(string.Join(',',
                r.Email is null ? "(erased)" : CsvReader.Escape(r.Email), r.Status.ToString().ToLowerInvariant(),
                r.Attempts.ToString(CultureInfo.InvariantCulture), r.SmtpCode?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.SentAt?.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture) ?? "", r.Uncertain ? "yes" : "", CsvReader.Escape(r.LastError)));
        }
    }

    /// <summary>JSON lines (one object per line, no array around them), so a reader can stream and resume.</summary>
    public static async Task WriteJsonLinesAsync(AppDbContext db, int issueId, Stream body, JsonSerializerOptions json, CancellationToken ct)
    {
        var newline = "\n"u8.ToArray();
        var buffered = new BufferedStream(body, 1 << 16);
        await foreach (var r in Lines(db, issueId).WithCancellation(ct))
        {
            await JsonSerializer.SerializeAsync(buffered, r, json, ct);
            await buffered.WriteAsync(newline, ct);
        }

        await buffered.FlushAsync(ct);
    }
}
