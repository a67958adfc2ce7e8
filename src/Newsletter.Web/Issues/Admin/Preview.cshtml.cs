using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Admin;

namespace Newsletter.Web.Issues.Admin;

public sealed class PreviewModel(AppDbContext db, IssuePreviews previews, TestSends tests) : PageModel
{
    public Issue? Issue { get; private set; }

    public string Subject { get; private set; } = "";

    public string Text { get; private set; } = "";

    public int HtmlBytes { get; private set; }

    public int AudienceCount { get; private set; }

    public IReadOnlyList<string> Warnings { get; private set; } = [];

    public string DefaultTestAddress => User.Identity?.Name ?? "";

    /// <summary>The test addresses as last posted, when they were refused.</summary>
    public string? TestAddresses { get; private set; }

    public string? TestError { get; private set; }

    [TempData(Key = Newsletter.Web.Admin.AdminFlash.Key)]
    public string? Message { get; set; }

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct) => await LoadAsync(id, ct) ? Page() : NotFound();

    [Newsletter.Web.Admin.Requires(Newsletter.Web.Admin.AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostTestAsync(int id, string? addresses, CancellationToken ct)
    {
        var list = (addresses ?? "").Split([',', ';', '\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries);
        if (!TestSendJob.TryCheck(list, out var valid, out var error))
        {
            // The page again, with the addresses as typed and the reason beside the form: one typo must not
            // send the author back to a reset box at the top of a long page.
            TestAddresses = addresses;
            TestError = error;
            return await LoadAsync(id, ct) ? Page() : NotFound();
        }

        if (await tests.QueueAsync(User, id, valid, ct) is { } refused)
        {
            TestAddresses = addresses;
            TestError = refused.Why;
            Response.StatusCode = refused.TooMany ? StatusCodes.Status429TooManyRequests : StatusCodes.Status409Conflict;
            return await LoadAsync(id, ct) ? Page() : NotFound();
        }

        return this.RedirectWithMessage($"/admin/issues/{id}/preview", $"Test sent to {string.Join(", ", valid)}.");
    }

    private async Task<bool> LoadAsync(int id, CancellationToken ct)
    {
        Issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        var preview = Issue is null ? null : await previews.BuildAsync(id, DefaultTestAddress.Length > 0 ? DefaultTestAddress : "preview@example.org", ct);
        if (preview is null)
        {
            return false;
        }

        (Subject, Text, HtmlBytes, Warnings, AudienceCount) = (preview.Subject, preview.Text, preview.HtmlBytes, preview.Warnings, preview.AudienceCount);
        return true;
    }
}
