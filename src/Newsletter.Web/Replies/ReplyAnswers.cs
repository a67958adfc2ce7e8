using System.Net;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using MimeKit;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Mail;

namespace Newsletter.Web.Replies;

/// <summary>
/// The author's answer to a thread: stored first, then sent by a job through the app's one mail transport
/// (pickup folder or SMTP), never inside the request. It goes to the thread's address (the one the replies
/// came from) with In-Reply-To and References, so it lands in the reader's conversation.
/// </summary>
public sealed class ReplyAnswers(AppDbContext db, IBackgroundJobClient jobs, IMailTransport transport, MailOptions mail, TimeProvider clock, ILogger<ReplyAnswers> logger)
{
    public const int MaxAnswerChars = 20_000;

    /// <summary>Stores the answer and queues its sending; null and a sentence when it can't be sent.</summary>
    public async Task<(long? Id, string? Problem)> QueueAsync(long threadId, string body, string authorName, CancellationToken ct)
    {
        var thread = await db.ReplyThreads.AsNoTracking().FirstOrDefaultAsync(t => t.Id == threadId, ct);
        if (thread is null)
        {
            return (null, "That conversation is gone.");
        }

        if (thread.Address.Length == 0)
        {
            return (null, "This mail came without a sender's address: there is no one to answer.");
        }

        body = (body ?? "").Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
        if (body.Length == 0)
        {
            return (null, "Write something to send.");
        }

        if (body.Length > MaxAnswerChars)
        {
            return (null, $"An answer is at most {MaxAnswerChars:N0} characters.");
        }

        // The last message of theirs is the one answered: its id and its references thread ours.
        var last = await db.ReplyMessages.AsNoTracking().Where(m => m.ThreadId == threadId && m.Direction == ReplyDirection.In)
            .OrderByDescending(m => m.At).ThenByDescending(m => m.Id).Select(m => new { m.MessageKey, m.References, m.Subject }).FirstOrDefaultAsync(ct);
        var references = last is null ? "" : string.Join(' ', last.References.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Append(last.MessageKey).Where(r => !r.StartsWith("sha256:", StringComparison.Ordinal)).TakeLast(10));
        var subject = ReplyText.OneLine(last?.Subject is { Length: > 0 } s ? s : thread.Subject, 280);
        if (!subject.StartsWith("Re:", StringComparison.OrdinalIgnoreCase))
        {
            subject = "Re: " + subject;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var answer = new ReplyMessage
        {
            ThreadId = threadId,
            Direction = ReplyDirection.Out,
            MessageKey = MimeKit.Utils.MimeUtils.GenerateMessageId(mail.MessageDomain),
            Source = "admin",
            FromAddress = mail.FromAddress,
            FromName = mail.FromName,
            Subject = subject,
            Text = body,
            References = references,
            At = now,
            ReadAt = now,
            AuthorName = ReplyText.OneLine(authorName, 200),
            AnswerStatus = Replies.AnswerStatus.Queued,
        };
        db.ReplyMessages.Add(answer);
        await db.SaveChangesAsync(ct);
        await db.ReplyThreads.Where(t => t.Id == threadId && t.LastAt < now).ExecuteUpdateAsync(u => u.SetProperty(t => t.LastAt, now), ct);
        jobs.Enqueue<ReplyAnswers>(a => a.SendAsync(answer.Id, CancellationToken.None));
        return (answer.Id, null);
    }

    /// <summary>The job. Sends a queued answer once; a retry after it was sent does nothing.</summary>
    [AutomaticRetry(Attempts = 5)]
    public async Task SendAsync(long answerId, CancellationToken ct)
    {
        var answer = await db.ReplyMessages.AsNoTracking().FirstOrDefaultAsync(m => m.Id == answerId && m.Direction == ReplyDirection.Out, ct);
        if (answer is null || answer.AnswerStatus != Replies.AnswerStatus.Queued)
        {
            return;
        }

        var thread = await db.ReplyThreads.AsNoTracking().FirstAsync(t => t.Id == answer.ThreadId, ct);
        var message = MessageFactory.Build(new OutgoingMessage
        {
            ToAddress = thread.Address,
            ToName = thread.Name,
            Subject = answer.Subject,
            Text = answer.Text,
            Html = "<!DOCTYPE html><html><body>" + string.Concat(ReplyText.Paragraphs(answer.Text)
                .Select(p => "<p>" + WebUtility.HtmlEncode(p).Replace("\n", "<br>\n", StringComparison.Ordinal) + "</p>\n")) + "</body></html>",
            MessageId = answer.MessageKey,
        }, mail);
        var references = answer.References.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (references.Length > 0)
        {
            message.InReplyTo = references[^1];
            foreach (var r in references)
            {
                message.References.Add(r);
            }
        }

        var result = await transport.SendAsync(message, null, ct);
        if (result.Outcome == SendOutcome.Sent)
        {
            await db.ReplyMessages.Where(m => m.Id == answerId).ExecuteUpdateAsync(u => u.SetProperty(m => m.AnswerStatus, Replies.AnswerStatus.Sent).SetProperty(m => m.LastError, (string?)null), ct);
            logger.LogInformation("Answer {Answer} in thread {Thread} sent", answerId, thread.Id);
            return;
        }

        var error = $"{result.Outcome} {result.StatusCode} {result.Reply}".Trim();
        error = error.Length > 1000 ? error[..1000] : error;
        if (result.Outcome == SendOutcome.Failed)
        {
            await db.ReplyMessages.Where(m => m.Id == answerId).ExecuteUpdateAsync(u => u.SetProperty(m => m.AnswerStatus, Replies.AnswerStatus.Failed).SetProperty(m => m.LastError, error), ct);
            logger.LogWarning("Answer {Answer} in thread {Thread} refused: {Error}", answerId, thread.Id, error);
            return;
        }

        await db.ReplyMessages.Where(m => m.Id == answerId).ExecuteUpdateAsync(u => u.SetProperty(m => m.LastError, error), ct);
        throw new MailNotSentException($"Answer {answerId} not sent yet: {error}", result);
    }

}
