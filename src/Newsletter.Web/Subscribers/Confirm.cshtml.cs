using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// GET only shows a button; the state changes on POST. Link scanners and mail-security proxies fetch every
/// link in an email, and they must not confirm anyone.
/// </summary>
public sealed class ConfirmModel(SubscriberTokens tokens, ReaderLifecycle readers) : PageModel
{
    public ConfirmResult? Result { get; private set; }

    public IActionResult OnGet(string token)
    {
        var read = tokens.ReadConfirmation(token);
        Result = read.State switch
        {
            TokenState.Invalid => ConfirmResult.Invalid,
            TokenState.Expired => ConfirmResult.Expired,
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
        Result = await readers.ConfirmAsync(tokens.ReadConfirmation(token), ct);
        if (Result == ConfirmResult.Invalid)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }

        return Page();
    }
}
