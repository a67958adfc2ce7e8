using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using MimeKit;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Replies;

/// <summary>What happened to a reply handed to <see cref="ReplyInbox.StoreAsync"/>.</summary>
public sealed record StoredReply(long ThreadId, long MessageId, bool Duplicate, long? SubscriberId, string Topic);

/// <summary>
/// Keeps the mail readers send back. The thread is chosen by who sent it (the From address; the reader when
/// it is on the list, "unknown" when not) and by what it answers: our Message-IDs in In-Reply-To or
/// References name the issue (their MAC proves we made them), and an id of a message already in one of the
/// sender's own threads names that thread's topic. Each message is stored once, by its Message-ID (or a
/// hash of it when it has none), under a unique index: a pipe that retries, a restart or two nodes reading
/// one mailbox can't store it twice.
/// </summary>
public sealed partial class ReplyInbox(AppDbContext db, MessageIds messageIds, TimeProvider clock, ILogger<ReplyInbox> logger)
{
    /// <summary>Text kept of one reply; longer ones are cut and say so.</summary>
    public const int MaxTextChars = 64 * 1024;

    /// <summary>How many ids of In-Reply-To and References are looked at and kept.</summary>
    private const int MaxReferences = 20;

    /// <summary>Replies no author has opened yet: the number beside Replies in the admin's navigation.</summary>
    public static Task<int> UnreadAsync(AppDbContext db, CancellationToken ct) =>
        db.ReplyMessages.CountAsync(m => m.Direction == ReplyDirection.In && m.ReadAt == null, ct);

    public async Task<StoredReply> StoreAsync(MimeMessage message, string source, CancellationToken ct)
    {
        var key = await MessageKeyAsync(message, ct);
        if (await db.ReplyMessages.AsNoTracking().Where(m => m.MessageKey == key).Select(m => new { m.Id, m.ThreadId }).FirstOrDefaultAsync(ct) is { } seen)
        {
            return new StoredReply(seen.ThreadId, seen.Id, true, null, "");
        }

        var from = message.From.Mailboxes.FirstOrDefault();
        var address = from is not null && EmailAddress.TryNormalize(from.Address, out var normalized, out _) ? normalized : "";
        var addressKey = Subscriber.KeyOf(address);
        var name = ReplyText.OneLine(from?.Name, 200) is { Length: > 0 } n ? n : null;
        long? subscriberId = addressKey.Length == 0 ? null
            : await db.Subscribers.AsNoTracking().Where(s => s.EmailKey == addressKey).Select(s => (long?)s.Id).FirstOrDefaultAsync(ct);

        var references = message.References.Reverse().Prepend(message.InReplyTo).Where(r => !string.IsNullOrWhiteSpace(r))
            .Select(r => r!.Trim().Trim('<', '>')).Where(r => r.Length is > 0 and <= 250).Distinct().Take(MaxReferences).ToList();
        var subject = ReplyText.OneLine(message.Subject, 300);
        var (issueId, noteId) = await TopicAsync(addressKey, references, subject, ct);
        var (text, note) = ReplyText.Of(message, MaxTextChars);
        var automatic = message.Headers["Auto-Submitted"] is { } auto && !auto.Trim().Equals("no", StringComparison.OrdinalIgnoreCase);
        if (automatic)
        {
            note = note is null ? "an automatic reply" : "an automatic reply; " + note;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var topic = ReplyThread.TopicOf(issueId, noteId);
        var threadId = await ThreadAsync(addressKey, address, name, subscriberId, issueId, noteId, topic, subject, now, ct);
        var row = new ReplyMessage
        {
            ThreadId = threadId,
            Direction = ReplyDirection.In,
            MessageKey = key,
            Source = source,
            FromAddress = address,
            FromName = name,
            Subject = subject,
            Text = text,
            Note = note,
            References = string.Join(' ', references.AsEnumerable().Reverse()),
            At = now,
            // An out-of-office answer to a newsletter is no one writing: kept, but it doesn't ask for attention.
            ReadAt = automatic ? now : null,
        };
        db.ReplyMessages.Add(row);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (db.IsUniqueViolation(e))
        {
            // Another node (or a retry) stored it between our look and our insert.
            db.ChangeTracker.Clear();
            var other = await db.ReplyMessages.AsNoTracking().Where(m => m.MessageKey == key).Select(m => new { m.Id, m.ThreadId }).FirstAsync(ct);
            return new StoredReply(other.ThreadId, other.Id, true, subscriberId, topic);
        }

        await db.ReplyThreads.Where(t => t.Id == threadId && t.LastAt < now).ExecuteUpdateAsync(u => u.SetProperty(t => t.LastAt, now), ct);
        logger.LogInformation("Reply {Message} from {Reader} kept in thread {Thread} ({Topic})", row.Id, subscriberId is null ? "an unknown address" : $"reader {subscriberId}", threadId, topic.Length == 0 ? "no topic" : topic);
        return new StoredReply(threadId, row.Id, false, subscriberId, topic);
    }

    private async Task<(int? IssueId, int? NoteId)> TopicAsync(string addressKey, List<string> references, string subject, CancellationToken ct)
    {
        foreach (var id in references)
        {
            // The issue a reader's copy was about. The reader named in the id is not used: the thread is the sender's.
            if (messageIds.TryRead(id, out var issueId, out _) && await db.Issues.AnyAsync(i => i.Id == issueId, ct))
            {
                return (issueId, null);
            }

            // An answer of ours (or an earlier reply) in one of this sender's own threads; another sender's thread is never joined.
            if (addressKey.Length > 0 && await db.ReplyMessages.AsNoTracking()
                    .Where(m => m.MessageKey == id)
                    .Join(db.ReplyThreads.Where(t => t.AddressKey == addressKey), m => m.ThreadId, t => t.Id, (m, t) => new { t.IssueId, t.NoteId })
                    .FirstOrDefaultAsync(ct) is { } thread)
            {
                return (thread.IssueId, thread.NoteId);
            }
        }

        // "Re: <a note's title>": mail written from a note page's address, or a forwarded note.
        var title = ReplyPrefix().Replace(subject, "").Trim();
        if (title.Length > 0)
        {
            var noteId = await Archive.PublicContent.Notes(db).AsNoTracking().Where(n => n.Title == title).Select(n => (int?)n.Id).FirstOrDefaultAsync(ct);
            if (noteId is not null)
            {
                return (null, noteId);
            }
        }

        return (null, null);
    }

    private async Task<long> ThreadAsync(string addressKey, string address, string? name, long? subscriberId, int? issueId, int? noteId, string topic, string subject, DateTime now, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var id = await db.ReplyThreads.Where(t => t.AddressKey == addressKey && t.Topic == topic).Select(t => (long?)t.Id).FirstOrDefaultAsync(ct);
            if (id is { } existing)
            {
                return existing;
            }

            var thread = new ReplyThread
            {
                AddressKey = addressKey,
                Address = address,
                Name = name,
                SubscriberId = subscriberId,
                IssueId = issueId,
                NoteId = noteId,
                Topic = topic,
                Subject = ReplyPrefix().Replace(subject, "").Trim() is { Length: > 0 } s ? s : "(no subject)",
                LastAt = now,
            };
            db.ReplyThreads.Add(thread);
            try
            {
                await db.SaveChangesAsync(ct);
                return thread.Id;
            }
            catch (DbUpdateException e) when (attempt == 0 && db.IsUniqueViolation(e))
            {
                db.ChangeTracker.Clear();
            }
        }
    }

    /// <summary>The Message-ID, or a hash of the whole message for mail without one.</summary>
    private static async Task<string> MessageKeyAsync(MimeMessage message, CancellationToken ct)
    {
        var id = message.MessageId?.Trim().Trim('<', '>');
        if (!string.IsNullOrEmpty(id) && id.Length <= 250 && id.All(c => c > ' ' && c <= '~'))
        {
            return id;
        }

        using var buffer = new MemoryStream();
        await message.WriteToAsync(buffer, ct);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
    }

    [GeneratedRegex(@"^(\s*(re|aw|sv|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ReplyPrefix();
}
