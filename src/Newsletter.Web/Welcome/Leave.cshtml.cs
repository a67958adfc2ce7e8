using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Welcome;

/// <summary>Leaving the welcome series from its emails' link: a GET shows a button (link scanners click links), the POST leaves.</summary>
/// <remarks>
/// No antiforgery token: the signed token in the link is the credential, as on the confirm and unsubscribe pages,
/// and a POST can only act for the reader that token names. With the antiforgery cookie blocked (privacy
/// settings, an in-app mail browser), the check refused the reader with a 400 that read as a malformed request.
/// </remarks>
[IgnoreAntiforgeryToken]
public sealed class LeaveModel(SubscriberTokens tokens, WelcomeSeries series) : PageModel
{
    public string? Token { get; private set; }

    public bool Valid { get; private set; }

    public bool Left { get; private set; }

    public IActionResult OnGet(string? token)
    {
        Token = token;
        var id = tokens.ReadManage(token);
        Valid = id is not null && id != SubscriberTokens.TestReaderId;
        if (id is null)
        {
            // A forged or cut link says by its status that it named nobody, as the other reader pages do.
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }

        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string? token, CancellationToken ct)
    {
        Token = token;
        if (tokens.ReadManage(token) is not { } id || id == SubscriberTokens.TestReaderId)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        Valid = true;
        await series.LeaveAsync(id, ct);
        Left = true;
        return Page();
    }
}
