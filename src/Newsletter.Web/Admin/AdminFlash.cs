using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Newsletter.Web.Admin;

/// <summary>
/// The one-line status an admin page shows after a redirect ("Saved.", "Paused."). It travels in TempData, a
/// cookie the app encrypts, and is shown once: in the query string (?message=...) anyone could send an author a
/// link that put their own words in the admin's status banner, and Back or a reload showed a stale "Paused." again.
/// A page reads it through a property marked <c>[TempData(Key = AdminFlash.Key)]</c>.
/// </summary>
public static class AdminFlash
{
    public const string Key = "message";

    public static RedirectResult RedirectWithMessage(this PageModel page, string url, string message)
    {
        page.TempData[Key] = message;
        return new RedirectResult(url);
    }
}
