using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// GET only shows a page; the state changes on POST. Link scanners and mail-security proxies fetch every
/// link in an email, and they must not confirm anyone. The page looks at the reader first: a confirmed reader
/// who opens the link again is told so, not asked to confirm again. Only the inbox's owner holds the link, so
/// saying what state the reader is in tells nobody else anything.
/// </summary>
/// <remarks>
/// No antiforgery token: the signed token in the link is the credential, as on the unsubscribe page, and the
/// POST can only confirm the reader that token names. With the token's cookie blocked (privacy settings, an
/// in-app mail browser), the check refused the reader with a 400 that read as a malformed link.
/// </remarks>
[IgnoreAntiforgeryToken]
public sealed class ConfirmModel(SubscriberTokens tokens, ReaderLifecycle readers, AppDbContext db) : PageModel
{
    /// <summary>Null: a pending reader with a working link, who gets the button.</summary>
    public ConfirmResult? Result { get; private set; }

    public SubscriberStatus? Status { get; private set; }

    /// <summary>When the reader confirmed or left, for the page to say.</summary>
    public DateTime? Since { get; private set; }

    public string? ManageToken { get; private set; }

    private int? _tokenVersion;

    public async Task<IActionResult> OnGetAsync(string token, CancellationToken ct)
    {
        var read = tokens.ReadConfirmation(token);
        if (read.State != TokenState.Invalid && read.SubscriberId > 0)
        {
            await LoadAsync(read.SubscriberId, ct);
        }

        Result = (read.State, Status) switch
        {
            (TokenState.Invalid, _) => ConfirmResult.Invalid,
            (_, SubscriberStatus.Active) => ConfirmResult.AlreadyConfirmed,
            (_, SubscriberStatus.Unsubscribed or SubscriberStatus.Bounced or SubscriberStatus.Complained) => ConfirmResult.Left,
            // Signed by us, so it came from the reader's inbox, but the reader is gone: "subscribe again for a fresh
            // link" (expired or invalid) would send them to a form that can't take an erased address.
            (_, null) when read.SubscriberId > 0 => ConfirmResult.Erased,
            (TokenState.Expired, _) => ConfirmResult.Expired,
            (_, null) => ConfirmResult.Invalid,
            // The button would only fail: the reader signed up again since, and the newer email's link confirms.
            _ when _tokenVersion != read.Version => ConfirmResult.Replaced,
            _ => null,
        };
        if (Result == ConfirmResult.Invalid)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }

        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string token, CancellationToken ct)
    {
        var read = tokens.ReadConfirmation(token);
        if (read.State == TokenState.Expired)
        {
            // Nothing to confirm: the page says what the link's GET says (expired, or confirmed already), not "doesn't work".
            return await OnGetAsync(token, ct);
        }

        Result = await readers.ConfirmAsync(read, ct);
        if (Result == ConfirmResult.Invalid)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }
        else
        {
            await LoadAsync(read.SubscriberId, ct);
        }

        return Page();
    }

    private async Task LoadAsync(long id, CancellationToken ct)
    {
        var reader = await db.Subscribers.AsNoTracking().Where(s => s.Id == id).Select(s => new { s.Status, s.ConfirmedAt, s.UnsubscribedAt, s.TokenVersion }).FirstOrDefaultAsync(ct);
        Status = reader?.Status;
        _tokenVersion = reader?.TokenVersion;
        Since = reader?.Status == SubscriberStatus.Active ? reader.ConfirmedAt : reader?.UnsubscribedAt;
        ManageToken = reader?.Status == SubscriberStatus.Active ? tokens.Manage(id) : null;
    }
}
