using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Subscribers;

/// <remarks>
/// No antiforgery token: the signed token in the link is the credential, as on the confirm and unsubscribe pages,
/// and a POST can only change the reader that token names. With the antiforgery cookie blocked (privacy settings,
/// an in-app mail browser), the check refused the reader with a 400 that read as a malformed request. The one form
/// without a token, "email me my link", mails only the address's owner and keeps its limits per address.
/// </remarks>
[IgnoreAntiforgeryToken]
public sealed class PreferencesModel(AppDbContext db, SubscriberTokens tokens, ReaderLifecycle readers, IBackgroundJobClient jobs, MailRequestLimits limits, TopicCatalog catalog, Welcome.WelcomeSeries welcome) : PageModel
{
    /// <summary>The reader is in the welcome series now: the page offers to leave it.</summary>
    public bool InWelcomeSeries { get; private set; }

    public string? Token { get; private set; }

    public Subscriber? Subscriber { get; private set; }

    /// <summary>The reader unsubscribed, or the address bounced or was reported: nothing to pause or leave.</summary>
    public bool Left => Subscriber?.Status is SubscriberStatus.Unsubscribed or SubscriberStatus.Bounced or SubscriberStatus.Complained;

    public IReadOnlyList<string> Topics { get; private set; } = [];

    public HashSet<string> Chosen { get; private set; } = [];

    public string? Message { get; private set; }

    /// <summary>The link came from a test copy or a preview: it names no reader.</summary>
    public bool TestCopy { get; private set; }

    public async Task<IActionResult> OnGetAsync(string? token, string? saved, CancellationToken ct)
    {
        await LoadAsync(token, ct);
        if (token is not null && Subscriber is null && !TestCopy)
        {
            // A forged, cut or erased reader's link: the page offers a new link, but says by its status that this
            // one named nobody, as the confirm and unsubscribe pages do (a checker or a script can tell).
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }
        else if (Subscriber is not null)
        {
            Message = saved switch
            {
                SavedNoTopics => "Saved. You ticked no topics, so you still get every issue.",
                SavedAll => "Saved.",
                _ => null,
            };
        }

        return Page();
    }

    private const string SavedAll = "1";
    private const string SavedNoTopics = "no-topics";

    public async Task<IActionResult> OnPostSaveAsync(string? token, string? name, string[]? topics, string? receive, string? pause, CancellationToken ct)
    {
        await LoadAsync(token, ct);
        if (TestCopy)
        {
            return Page();
        }

        if (Subscriber is null)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        if (Left)
        {
            // A form kept open in another tab: a reader who left gets no issues, so a pause or topics would mean nothing.
            Response.StatusCode = StatusCodes.Status409Conflict;
            return Page();
        }

        var chosen = (await catalog.ChosenAsync(topics, ct)).ToHashSet();
        var only = receive == "topics";
        await readers.ChangePreferencesAsync(Subscriber.Id, name, Topics, chosen, only, pause, ct);
        if (InWelcomeSeries && Request.Form["welcome"] != "on")
        {
            await welcome.LeaveAsync(Subscriber.Id, ct);
        }

        // Back to the page by GET, so that reloading it or going back does not post the form again.
        return RedirectToPage(new { token, saved = only && chosen.Count == 0 ? SavedNoTopics : SavedAll });
    }

    /// <summary>
    /// Download or erase, asked for here and done from a link mailed to the address: the preferences link travels
    /// in every issue, and whoever holds a forwarded one must not read or erase someone else's record.
    /// </summary>
    public async Task<IActionResult> OnPostDataRequestAsync(string? token, string? kind, CancellationToken ct)
    {
        await LoadAsync(token, ct);
        if (TestCopy)
        {
            return Page();
        }

        DataRequestKind? wanted = kind switch { "download" => DataRequestKind.Download, "erase" => DataRequestKind.Erase, _ => null };
        if (Subscriber is null || wanted is null)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        switch (await limits.TryAcquireAsync(MailRequest.DataRequest, HttpContext.Connection.RemoteIpAddress, Subscriber.Email, ct, "-" + kind))
        {
            case MailPermit.ClientLimited:
                Response.StatusCode = StatusCodes.Status429TooManyRequests;
                Message = "Too many requests from your network. Try again in a minute.";
                return Page();
            case MailPermit.AddressLimited:
                // Only the holder of this reader's link gets here, so the truth tells a stranger nothing: the
                // address's own budget is spent, and the page says so instead of claiming an email it never sent.
                Response.StatusCode = StatusCodes.Status429TooManyRequests;
                Message = $"We've already emailed {Subscriber.Email} {MailRequestLimits.LinksPerAddressPerHour} such links in the last hour, so no more are sent for now. Use the newest one, or ask again in an hour.";
                return Page();
            case MailPermit.Granted:
                jobs.Enqueue<SubscriberMailJob>(j => j.SendDataRequestAsync(Subscriber.Id, wanted.Value, CancellationToken.None));
                break;

            // AddressRepeated: the same request seconds ago (a double click), whose email is on its way.
        }

        Message = wanted == DataRequestKind.Erase
            ? $"We've emailed {Subscriber.Email} a link to confirm the erasure. Nothing is erased until it's used; it works for {(int)SubscriberTokens.DataRequestLifetime.TotalHours} hours."
            : $"We've emailed {Subscriber.Email} a link to download your data. It works for {(int)SubscriberTokens.DataRequestLifetime.TotalHours} hours.";
        return Page();
    }

    public async Task<IActionResult> OnPostLinkAsync(string? email, CancellationToken ct)
    {
        if (!await limits.TryClientAsync(MailRequest.PreferencesLink, HttpContext.Connection.RemoteIpAddress, ct))
        {
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            Message = "Too many requests from your network. Try again in a minute.";
            return Page();
        }

        if (Newsletter.Mail.EmailAddress.TryNormalize(email ?? "", out var normalized, out _) && await limits.TryAddressAsync(MailRequest.PreferencesLink, normalized, ct))
        {
            // The same work for every address: one lookup and one job, which mails only an active reader (id 0
            // finds nobody). A known address must not answer faster or slower than a new one.
            var key = Subscriber.KeyOf(normalized);
            var id = await db.Subscribers.Where(s => s.EmailKey == key).Select(s => s.Id).FirstOrDefaultAsync(ct);
            jobs.Enqueue<SubscriberMailJob>(j => j.SendPreferencesLinkAsync(id, CancellationToken.None));
        }

        // Same answer either way, so the form can't be used to test addresses.
        Message = LinkAnswer;
        return Page();
    }

    /// <summary>The one answer to "email me my preferences link", whatever happened.</summary>
    public const string LinkAnswer = "If that address is on the list, a link to its preferences is on its way.";

    private async Task LoadAsync(string? token, CancellationToken ct)
    {
        Token = token;
        TestCopy = tokens.ReadManage(token) == SubscriberTokens.TestReaderId;
        if (tokens.ReadManage(token) is { } id && !TestCopy)
        {
            Subscriber = await db.Subscribers.AsNoTracking().Include(s => s.Tags).FirstOrDefaultAsync(s => s.Id == id, ct);
        }

        Topics = await catalog.OfferedAsync(ct);
        Chosen = Subscriber is null ? [] : [.. Subscriber.Tags.Select(t => t.Tag)];
        InWelcomeSeries = Subscriber is not null && await welcome.IsInAsync(Subscriber.Id, ct);
    }
}
