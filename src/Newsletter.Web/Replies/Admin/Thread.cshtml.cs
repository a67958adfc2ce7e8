using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Admin;

namespace Newsletter.Web.Replies.Admin;

/// <summary>One conversation: the replies with their quotes folded, the author's answers, publishing with consent, and the answer form.</summary>
public sealed class ThreadModel(AppDbContext db, ReplyAnswers answers, ReplyComments comments, UserManager<AppUser> users, TimeProvider clock, IAuthorizationService authorization) : PageModel
{
    public ReplyThread Thread { get; private set; } = new();

    public IReadOnlyList<ReplyMessage> Messages { get; private set; } = [];

    /// <summary>What the conversation is about, and where it is on the site (null when not public).</summary>
    public string About { get; private set; } = "";

    public string? AboutUrl { get; private set; }

    public string? ReaderName { get; private set; }

    [TempData]
    public string? Flash { get; set; }

    [TempData]
    public bool FlashIsError { get; set; }

    public async Task<IActionResult> OnGetAsync(long id, CancellationToken ct)
    {
        if (!await LoadAsync(id, ct))
        {
            return NotFound();
        }

        // Opened is read; "Mark as unread" puts it back. Only by one who may answer: a viewer looking in took the
        // unread mark away from the author who has to reply.
        if ((await authorization.AuthorizeAsync(User, AuthorPolicies.Send)).Succeeded)
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await db.ReplyMessages.Where(m => m.ThreadId == id && m.Direction == ReplyDirection.In && m.ReadAt == null)
                .ExecuteUpdateAsync(u => u.SetProperty(m => m.ReadAt, now), ct);
        }

        return Page();
    }

    // An answer is mail to a reader from the newsletter's address: sending, as the roles table has it.
    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostAnswerAsync(long id, string? body, CancellationToken ct)
    {
        var (answerId, problem) = await answers.QueueAsync(id, body ?? "", await AuthorNameAsync(), ct);
        return Done(id, problem ?? "Answer queued: it goes out in a moment through the mail transport.", problem is not null, answerId is { } a ? $"message-{a}" : "answer");
    }

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostUnreadAsync(long id, CancellationToken ct)
    {
        var latest = await db.ReplyMessages.Where(m => m.ThreadId == id && m.Direction == ReplyDirection.In)
            .OrderByDescending(m => m.At).ThenByDescending(m => m.Id).Select(m => (long?)m.Id).FirstOrDefaultAsync(ct);
        if (latest is null)
        {
            return NotFound();
        }

        await db.ReplyMessages.Where(m => m.Id == latest).ExecuteUpdateAsync(u => u.SetProperty(m => m.ReadAt, (DateTime?)null), ct);
        Flash = "Marked as unread.";
        return Redirect("/admin/replies");
    }

    // Words published under a reader's name speak for them on the site, on the author's word that they agreed:
    // that word is an owner's or editor's, who answer for what leaves in the newsletter's name. Taking one off is anyone's.
    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostPublishAsync(long id, long messageId, string? name, string? text, bool consent, string? consentHow, CancellationToken ct)
    {
        if (!await db.ReplyMessages.AnyAsync(m => m.Id == messageId && m.ThreadId == id, ct))
        {
            return NotFound();
        }

        var problem = await comments.PublishAsync(messageId, name, text, consent, consentHow, await AuthorNameAsync(), ct);
        return Done(id, problem ?? "Published under the page, with the name you chose.", problem is not null, $"message-{messageId}");
    }

    public async Task<IActionResult> OnPostUnpublishAsync(long id, long messageId, CancellationToken ct)
    {
        if (!await db.ReplyMessages.AnyAsync(m => m.Id == messageId && m.ThreadId == id, ct))
        {
            return NotFound();
        }

        await comments.UnpublishAsync(messageId, ct);
        return Done(id, "Taken off the site. The reader's consent stays on record.", false, $"message-{messageId}");
    }

    private IActionResult Done(long id, string message, bool error, string anchor)
    {
        Flash = message;
        FlashIsError = error;
        return Redirect($"/admin/replies/{id}#{anchor}");
    }

    private async Task<string> AuthorNameAsync() =>
        await users.GetUserAsync(User) is { } user ? (user.DisplayName.Length > 0 ? user.DisplayName : user.Email ?? "an author") : User.Identity?.Name ?? "an author";

    private async Task<bool> LoadAsync(long id, CancellationToken ct)
    {
        var thread = await db.ReplyThreads.AsNoTracking().FirstOrDefaultAsync(t => t.Id == id, ct);
        if (thread is null)
        {
            return false;
        }

        Thread = thread;
        Messages = await db.ReplyMessages.AsNoTracking().Where(m => m.ThreadId == id).OrderBy(m => m.At).ThenBy(m => m.Id).ToListAsync(ct);
        if (thread.SubscriberId is { } reader)
        {
            ReaderName = await db.Subscribers.AsNoTracking().Where(s => s.Id == reader).Select(s => s.Name ?? s.Email).FirstOrDefaultAsync(ct);
        }

        if (thread.IssueId is { } issueId && await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == issueId, ct) is { } issue)
        {
            About = issue.Number is { } n ? $"Issue #{n}: {issue.Subject}" : $"Issue: {issue.Subject}";
            AboutUrl = issue.IsPublic ? issue.WebPath : null;
        }
        else if (thread.NoteId is { } noteId && await db.Notes.AsNoTracking().FirstOrDefaultAsync(n => n.Id == noteId, ct) is { } note)
        {
            About = $"Note: {note.Title}";
            AboutUrl = note.IsPublic ? $"/notes/{note.Slug}" : null;
        }
        else
        {
            About = "No issue or note";
        }

        return true;
    }
}
