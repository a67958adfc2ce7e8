using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>What the unsubscribe page shows: it looks at the reader before offering a button.</summary>
public enum UnsubscribePage
{
    Ask,
    Done,
    AlreadyGone,
    TestCopy,
    Invalid,
}

/// <summary>
/// The List-Unsubscribe URL. GET shows a button (scanners change nothing). POST unsubscribes and answers
/// 200, with no login, cookie or antiforgery token: that is RFC 8058 one-click, where the mailbox
/// provider POSTs "List-Unsubscribe=One-Click" from its own servers. The signed token is the credential.
/// A test copy's token names no reader; both methods then say so with a 200, since a mail client's one-click
/// POST that gets an error may be retried or reported.
/// </summary>
[IgnoreAntiforgeryToken]
public sealed class UnsubscribeModel(SubscriberTokens tokens, ReaderLifecycle readers, AppDbContext db) : PageModel
{
    public string Token { get; private set; } = "";

    public UnsubscribePage State { get; private set; }

    /// <summary>Why no issues go to a reader who is gone: a bounced or reported address can't simply subscribe again.</summary>
    public SubscriberStatus? GoneAs { get; private set; }

    /// <summary>
    /// The link is genuine but its reader was erased. Only a hash of the address is left, which also keeps it
    /// from subscribing again, so the page says that instead of calling a link from the reader's own inbox broken.
    /// </summary>
    public bool Erased { get; private set; }

    /// <summary>
    /// The reader's address, so the page says which address it is about (a reader with several may have forwarded
    /// or mixed up emails). Only the inbox's owner holds the link; the preferences page shows it too. Null once erased.
    /// </summary>
    public string? Email { get; private set; }

    /// <summary>When an already unsubscribed reader left, if known.</summary>
    public DateTime? LeftAt { get; private set; }

    public async Task<IActionResult> OnGetAsync(string token, CancellationToken ct)
    {
        Token = token;
        var id = tokens.ReadManage(token);
        if (id is null)
        {
            return Invalid();
        }

        if (id == SubscriberTokens.TestReaderId)
        {
            State = UnsubscribePage.TestCopy;
            return Page();
        }

        var reader = await db.Subscribers.AsNoTracking().Where(s => s.Id == id).Select(s => new { s.Status, s.UnsubscribedAt, s.Email }).FirstOrDefaultAsync(ct);
        if (reader is null)
        {
            return Gone();
        }

        (State, LeftAt) = reader.Status is SubscriberStatus.Active or SubscriberStatus.Pending
            ? (UnsubscribePage.Ask, null)
            : (UnsubscribePage.AlreadyGone, reader.UnsubscribedAt);
        GoneAs = reader.Status;
        Email = reader.Email;
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string token, CancellationToken ct)
    {
        Token = token;
        var id = tokens.ReadManage(token);
        if (id == SubscriberTokens.TestReaderId)
        {
            State = UnsubscribePage.TestCopy;
            return Page();
        }

        if (id is null)
        {
            return Invalid();
        }

        // A mail client's one-click POST for an erased reader gets a 200 too: the address is off the list, which is
        // what was asked, and an error may be retried or reported as a broken unsubscribe.
        if (!await readers.UnsubscribeAsync(id.Value, Request.HasFormContentType && Request.Form["List-Unsubscribe"] == "One-Click" ? "one-click" : "link", ct))
        {
            return Gone();
        }

        State = UnsubscribePage.Done;
        Email = await db.Subscribers.AsNoTracking().Where(s => s.Id == id).Select(s => s.Email).FirstOrDefaultAsync(ct);
        return Page();
    }

    private PageResult Gone()
    {
        State = UnsubscribePage.AlreadyGone;
        Erased = true;
        return Page();
    }

    private PageResult Invalid()
    {
        State = UnsubscribePage.Invalid;
        Response.StatusCode = StatusCodes.Status400BadRequest;
        return Page();
    }
}
