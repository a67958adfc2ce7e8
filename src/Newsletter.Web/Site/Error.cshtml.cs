using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Newsletter.Web.Site;

/// <summary>Friendly pages for 404, 410 and 500, rendered by re-execution so the status code is kept; a code that is no error is a 404.</summary>
[Microsoft.AspNetCore.Authorization.AllowAnonymous]
[Microsoft.AspNetCore.Mvc.IgnoreAntiforgeryToken]
public sealed class ErrorModel : PageModel
{
    public int Code { get; private set; }

    public string Heading { get; private set; } = "";

    public string Message { get; private set; } = "";

    // The code comes from the route only: a re-executed POST carries its form, and a field named "code" must
    // not choose the status of the answer.
    public void OnGet([FromRoute] int? code) => Set(code);

    public void OnPost([FromRoute] int? code) => Set(code);

    private void Set(int? code)
    {
        // Without a code in the route this is the exception handler's re-execution, which has already chosen
        // the status (413 for a body over Kestrel's limit, otherwise 500).
        code ??= Response.StatusCode;
        // Anything else is someone typing /error/0 or /error/200 (or opening /error itself, a 200 so far): there is no
        // such error page, and a 500 would say the server failed.
        Code = code is >= 400 and <= 599 ? code.Value : 404;
        (Heading, Message) = Code switch
        {
            404 => ("Page not found", "There is nothing at this address. It may have moved, or the link may be mistyped."),
            410 => ("This page is gone", "It was here once and has been removed on purpose."),
            400 => ("That request could not be read", "Something in it was malformed. Go back and try again."),
            403 => ("Not allowed", "Your account doesn't have access to this page or action. Nothing was changed. An owner can change your role on the Authors page."),
            413 => ("That was too large", "The request was larger than this page accepts. Nothing was saved."),
            429 => ("Slow down a little", "Too many requests came from you in a short time. Wait a minute and try again."),
            _ => ("Something went wrong", "The error has been logged. Try again in a moment."),
        };
        Response.StatusCode = Code;
    }
}
