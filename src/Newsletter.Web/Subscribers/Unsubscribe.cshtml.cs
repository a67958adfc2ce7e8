using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// The List-Unsubscribe URL. GET shows a button (scanners change nothing). POST unsubscribes and answers
/// 200, with no login, cookie or antiforgery token: that is RFC 8058 one-click, where the mailbox
/// provider POSTs "List-Unsubscribe=One-Click" from its own servers. The signed token is the credential.
/// </summary>
[IgnoreAntiforgeryToken]
public sealed class UnsubscribeModel(SubscriberTokens tokens, ReaderLifecycle readers) : PageModel
{
    public string Token { get; private set; } = "";

    public bool Invalid { get; private set; }

    public bool Done { get; private set; }

    public IActionResult OnGet(string token)
    {
        Token = token;
        Invalid = tokens.ReadManage(token) is null;
        if (Invalid)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }

        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string token, CancellationToken ct)
    {
        Token = token;
        var id = tokens.ReadManage(token);
        if (id is null || !await readers.UnsubscribeAsync(id.Value, Request.HasFormContentType && Request.Form["List-Unsubscribe"] == "One-Click" ? "one-click" : "link", ct))
        {
            Invalid = true;
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        Done = true;
        return Page();
    }
}
