using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers;

public enum YourDataPage
{
    Download,
    Erase,
    Erased,
    Gone,
    Expired,
    Invalid,
}

/// <summary>
/// Where a "your data" link from the reader's inbox lands. GET only shows a button, so a link scanner that opens
/// the email downloads nothing and erases nothing; the POST acts. The signed, expiring token names the reader
/// and the one thing it allows, so a download link can't erase and a forwarded one soon stops working.
/// </summary>
/// <remarks>
/// No antiforgery token: the signed token in the link is the credential, as on the confirm and unsubscribe pages,
/// and a POST can only act for the reader that token names. With the antiforgery cookie blocked (privacy
/// settings, an in-app mail browser), the check refused the reader with a 400 that read as a malformed request.
/// </remarks>
[IgnoreAntiforgeryToken]
public sealed class YourDataModel(SubscriberTokens tokens, AppDbContext db, ReaderData data, ReaderLifecycle readers, AuditLog audit, TimeProvider clock, ILogger<YourDataModel> logger) : PageModel
{
    public string Token { get; private set; } = "";

    public YourDataPage State { get; private set; }

    public string? Email { get; private set; }

    public async Task<IActionResult> OnGetAsync(string token, CancellationToken ct)
    {
        await LoadAsync(token, ct);
        return Page();
    }

    public async Task<IActionResult> OnPostDownloadAsync(string token, CancellationToken ct)
    {
        var id = await LoadAsync(token, ct);
        if (State != YourDataPage.Download)
        {
            return Page();
        }

        var file = await data.ExportAsync(id, ct);
        if (file is null)
        {
            State = YourDataPage.Gone;
            return Page();
        }

        logger.LogInformation("Subscriber {Id} downloaded their data", id);
        Response.Headers.CacheControl = "no-store";
        return File(file, "application/json", $"my-data-{clock.GetUtcNow().UtcDateTime:yyyy-MM-dd}.json");
    }

    public async Task<IActionResult> OnPostEraseAsync(string token, string? confirm, CancellationToken ct)
    {
        var id = await LoadAsync(token, ct);
        if (State != YourDataPage.Erase)
        {
            return Page();
        }

        if (confirm != "yes")
        {
            ModelState.AddModelError("confirm", "Tick the box to confirm: erasing can't be undone.");
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        // A double click or two tabs erase once: the second finds nobody and says the same.
        if (await readers.DeleteAsync(id, erase: true, ct))
        {
            await audit.RecordByReaderAsync(AuditActions.ReaderErase, "subscriber", id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "personal data erased by the reader, from a link emailed to them", ct);
        }

        State = YourDataPage.Erased;
        Email = null;
        return Page();
    }

    private async Task<long> LoadAsync(string token, CancellationToken ct)
    {
        Token = token;
        var (state, kind, id) = tokens.ReadDataRequest(token);
        if (state != TokenState.Valid)
        {
            State = state == TokenState.Expired ? YourDataPage.Expired : YourDataPage.Invalid;
            Response.StatusCode = state == TokenState.Expired ? StatusCodes.Status410Gone : StatusCodes.Status404NotFound;
            return 0;
        }

        Email = await db.Subscribers.AsNoTracking().Where(s => s.Id == id).Select(s => s.Email).FirstOrDefaultAsync(ct);
        State = Email is null ? YourDataPage.Gone : kind == DataRequestKind.Erase ? YourDataPage.Erase : YourDataPage.Download;
        return id;
    }
}
