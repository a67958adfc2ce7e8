using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Newsletter.Mail;
using Newsletter.Web.Data;

namespace Newsletter.Web.Replies;

public static class RepliesExtensions
{
    /// <summary>Readers' replies: the inbox that keeps them, the author's answers, and the IMAP reader when one is configured.</summary>
    public static WebApplicationBuilder AddReplies(this WebApplicationBuilder builder)
    {
        var inbound = builder.Configuration.GetSection("Inbound").Get<InboundOptions>() ?? new InboundOptions();
        var problems = inbound.Imap.Problems().ToList();
        if (problems.Count > 0)
        {
            throw new SettingsException(string.Join(" ", problems));
        }

        builder.Services.AddSingleton(inbound.Imap);
        builder.Services.AddScoped<ReplyInbox>();
        builder.Services.AddScoped<ReplyAnswers>();
        builder.Services.AddScoped<ReplyComments>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        if (inbound.Imap.Enabled && builder.Configuration.GetValue("Jobs:Server", true))
        {
            builder.Services.AddHostedService<ImapInbox>();
        }

        return builder;
    }
}

/// <summary>A published reply as the site shows it: a display name, a date and text. Never an address.</summary>
public sealed record PublicComment(long Id, string Name, DateTime At, string Text);

/// <summary>Comments under notes and issues, and the rule for publishing one: only with the reader's consent on record.</summary>
public sealed class ReplyComments(AppDbContext db, Content.ContentChanges changes, TimeProvider clock)
{
    public const int MaxCommentChars = 5_000;

    public Task<List<PublicComment>> ForIssueAsync(int issueId, CancellationToken ct) =>
        Published(db.ReplyThreads.Where(t => t.IssueId == issueId), ct);

    public Task<List<PublicComment>> ForNoteAsync(int noteId, CancellationToken ct) =>
        Published(db.ReplyThreads.Where(t => t.NoteId == noteId), ct);

    private Task<List<PublicComment>> Published(IQueryable<ReplyThread> threads, CancellationToken ct) =>
        db.ReplyMessages.AsNoTracking()
            .Where(m => m.Direction == ReplyDirection.In && m.PublishedAt != null && m.ConsentAt != null && m.CommentText != null)
            .Join(threads, m => m.ThreadId, t => t.Id, (m, t) => m)
            .OrderBy(m => m.PublishedAt).ThenBy(m => m.Id)
            .Select(m => new PublicComment(m.Id, m.CommentName ?? "A reader", m.At, m.CommentText!))
            .ToListAsync(ct);

    /// <summary>Publishes a reply under its thread's issue or note. Refused without recorded consent, or with nothing to show.</summary>
    public async Task<string?> PublishAsync(long messageId, string? displayName, string? text, bool consent, string? consentHow, string authorName, CancellationToken ct)
    {
        var row = await db.ReplyMessages.FirstOrDefaultAsync(m => m.Id == messageId && m.Direction == ReplyDirection.In, ct);
        if (row is null)
        {
            return "That reply is gone.";
        }

        var thread = await db.ReplyThreads.AsNoTracking().FirstAsync(t => t.Id == row.ThreadId, ct);
        if (thread.IssueId is null && thread.NoteId is null)
        {
            return "This conversation is not about an issue or a note, so there is no page to show it on.";
        }

        var how = ReplyText.OneLine(consentHow, 500);
        if (!consent || how.Length == 0)
        {
            return "Not published: tick that the reader agreed, and say how they did (\"said yes in their reply of 3 December\").";
        }

        var name = ReplyText.OneLine(displayName, 80);
        if (name.Length == 0)
        {
            return "Give the name to show: the reader's own choice, or \"A reader\".";
        }

        if (name.Contains('@', StringComparison.Ordinal))
        {
            return "The name shown must not be an email address.";
        }

        var body = (text ?? "").Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
        if (body.Length == 0 || body.Length > MaxCommentChars)
        {
            return $"The comment needs text, at most {MaxCommentChars:N0} characters.";
        }

        var now = clock.GetUtcNow().UtcDateTime;
        row.ConsentAt ??= now;
        row.ConsentBy = ReplyText.OneLine(authorName, 200);
        row.ConsentHow = how;
        row.CommentName = name;
        row.CommentText = body;
        row.PublishedAt = now;
        row.CommentChangedAt = now;
        row.ReadAt ??= now;
        await db.SaveChangesAsync(ct);
        await changes.NotesChangedAsync(ct);
        return null;
    }

    /// <summary>Takes a comment off the site; the consent stays on record.</summary>
    public async Task UnpublishAsync(long messageId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (await db.ReplyMessages.Where(m => m.Id == messageId && m.PublishedAt != null)
                .ExecuteUpdateAsync(u => u.SetProperty(m => m.PublishedAt, (DateTime?)null).SetProperty(m => m.CommentChangedAt, now), ct) > 0)
        {
            await changes.NotesChangedAsync(ct);
        }
    }
}
