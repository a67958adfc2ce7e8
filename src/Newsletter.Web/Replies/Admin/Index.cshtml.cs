using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Replies.Admin;

/// <summary>One line of the inbox: a conversation, who it is with, what it is about, and what is new in it.</summary>
public sealed record ThreadRow(long Id, string Who, string Address, bool KnownReader, string About, string Subject, string Snippet, DateTime LastAt, int Unread, int Messages);

/// <summary>The Replies inbox: conversations newest first, unread ones marked, filterable to the unread.</summary>
public sealed class IndexModel(AppDbContext db) : PageModel
{
    private const int PageSize = 50;

    public IReadOnlyList<ThreadRow> Threads { get; private set; } = [];

    public bool UnreadOnly { get; private set; }

    public int Unread { get; private set; }

    public int PageNumber { get; private set; }

    public bool HasMore { get; private set; }

    public async Task OnGetAsync(string? show, int page, CancellationToken ct)
    {
        UnreadOnly = show == "unread";
        PageNumber = Math.Max(1, page);
        var unread = db.ReplyMessages.Where(m => m.Direction == ReplyDirection.In && m.ReadAt == null);
        Unread = await unread.CountAsync(ct);
        var threads = db.ReplyThreads.AsNoTracking();
        if (UnreadOnly)
        {
            threads = threads.Where(t => unread.Any(m => m.ThreadId == t.Id));
        }

        var rows = await threads.OrderByDescending(t => t.LastAt).ThenByDescending(t => t.Id)
            .Skip((PageNumber - 1) * PageSize).Take(PageSize + 1)
            .Select(t => new
            {
                t.Id, t.Address, t.Name, t.SubscriberId, t.IssueId, t.NoteId, t.Subject, t.LastAt,
                Unread = db.ReplyMessages.Count(m => m.ThreadId == t.Id && m.Direction == ReplyDirection.In && m.ReadAt == null),
                Messages = db.ReplyMessages.Count(m => m.ThreadId == t.Id),
                Last = db.ReplyMessages.Where(m => m.ThreadId == t.Id).OrderByDescending(m => m.At).ThenByDescending(m => m.Id).Select(m => m.Text.Substring(0, 400)).FirstOrDefault(),
            })
            .ToListAsync(ct);
        HasMore = rows.Count > PageSize;
        rows = [.. rows.Take(PageSize)];
        var issueIds = rows.Where(r => r.IssueId is not null).Select(r => r.IssueId!.Value).Distinct().ToList();
        var noteIds = rows.Where(r => r.NoteId is not null).Select(r => r.NoteId!.Value).Distinct().ToList();
        var issues = await db.Issues.AsNoTracking().Where(i => issueIds.Contains(i.Id)).ToDictionaryAsync(i => i.Id, i => i.Number is { } n ? $"Issue #{n}: {i.Subject}" : $"Issue: {i.Subject}", ct);
        var notes = await db.Notes.AsNoTracking().Where(n => noteIds.Contains(n.Id)).ToDictionaryAsync(n => n.Id, n => $"Note: {n.Title}", ct);
        Threads = [.. rows.Select(r => new ThreadRow(
            r.Id,
            r.Name ?? (r.Address.Length > 0 ? r.Address : "No sender"),
            r.Address,
            r.SubscriberId is not null,
            r.IssueId is { } i ? issues.GetValueOrDefault(i, "An issue since deleted") : r.NoteId is { } n ? notes.GetValueOrDefault(n, "A note since deleted") : "No issue or note",
            r.Subject,
            Snippet(r.Last),
            r.LastAt,
            r.Unread,
            r.Messages))];
    }

    /// <summary>The first words of the latest message, quotes left out.</summary>
    private static string Snippet(string? text)
    {
        var own = ReplyText.OwnWords(text ?? "");
        var line = ReplyText.OneLine(own.Length > 0 ? own : text, 160);
        return line.Length == 160 ? line[..159] + "…" : line;
    }
}
