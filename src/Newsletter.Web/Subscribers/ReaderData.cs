using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Replies;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Everything the site stores about one reader, as the file they download from a "your data" link (a GDPR
/// access request answered without the author). The same rows an erase deletes: the subscription, its topics,
/// its history, every delivery with the issue it carried, and the reader's conversations with the author.
/// </summary>
public sealed class ReaderData(AppDbContext db, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The reader's data as UTF-8 JSON, or null when nothing is stored under that id any more.</summary>
    public async Task<byte[]?> ExportAsync(long subscriberId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().Include(x => x.Tags).FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is null)
        {
            return null;
        }

        var events = await db.SubscriberEvents.AsNoTracking().Where(e => e.SubscriberId == s.Id).OrderBy(e => e.At)
            .Select(e => new { e.At, Event = e.Kind, e.Source, e.Detail }).ToListAsync(ct);
        var deliveries = await (from d in db.Deliveries.AsNoTracking()
                                join i in db.Issues.AsNoTracking() on d.IssueId equals i.Id
                                where d.SubscriberId == s.Id
                                orderby d.Id
                                select new { i.Number, i.Subject, d.Status, d.SentAtMs, d.Attempts, d.SmtpCode, d.LastError }).ToListAsync(ct);
        var key = Subscriber.KeyOf(s.Email);
        var threads = await db.ReplyThreads.AsNoTracking().Include(t => t.Messages)
            .Where(t => t.SubscriberId == s.Id || t.AddressKey == key).OrderBy(t => t.Id).ToListAsync(ct);

        var document = new
        {
            ExportedAt = clock.GetUtcNow().UtcDateTime,
            Subscription = new
            {
                s.Email, s.Name, s.Status, s.Source, Consent = s.ConsentSource, SubscribedAt = s.CreatedAt, s.ConfirmedAt,
                s.UnsubscribedAt, s.PausedUntil, Topics = s.Tags.Select(t => t.Tag).Order().ToList(), OnlyTheseTopics = s.TopicsOnly,
            },
            History = events,
            IssuesSent = deliveries.Select(d => new
            {
                Issue = d.Number, d.Subject, d.Status, SentAt = d.SentAtMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime : (DateTime?)null,
                d.Attempts, d.SmtpCode, d.LastError,
            }),
            Conversations = threads.Select(t => new
            {
                t.Subject,
                Messages = t.Messages.OrderBy(m => m.At).Select(m => new
                {
                    m.At, From = m.Direction == ReplyDirection.In ? "you" : "the author", m.Subject, m.Text,
                    PublishedAsComment = m.IsPublished ? m.CommentText ?? m.Text : null, m.ConsentAt, m.ConsentHow,
                }),
            }),
        };
        return JsonSerializer.SerializeToUtf8Bytes(document, Json);
    }
}
