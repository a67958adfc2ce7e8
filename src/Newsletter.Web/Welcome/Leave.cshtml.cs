using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Welcome;

/// <summary>Leaving the welcome series from its emails' link: a GET shows a button (link scanners click links), the POST leaves.</summary>
public sealed class LeaveModel(SubscriberTokens tokens, WelcomeSeries series) : PageModel
{
    public string? Token { get; private set; }

    public bool Valid { get; private set; }

    public bool Left { get; private set; }

    public IActionResult OnGet(string? token)
    {
        Token = token;
        Valid = tokens.ReadManage(token) is { } id && id != SubscriberTokens.TestReaderId;
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
