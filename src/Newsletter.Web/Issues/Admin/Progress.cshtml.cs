using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Issues.Admin;

public sealed record FailureLine(long SubscriberId, string Email, DeliveryStatus Status, int? SmtpCode, string? Error);

public sealed class ProgressModel(AppDbContext db, IssueSender sender, IssueProgress progress, Charts.IssueActivity activity, Microsoft.Extensions.Options.IOptions<Site.SiteOptions> site, Tracking.LinkClicks clicks) : PageModel
{
    public string Local(DateTime utc) => site.Value.ToLocal(utc).ToString("d MMM yyyy, HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " " + site.Value.TimeZone;

    public string Duration(TimeSpan span) => span.TotalMinutes < 1 ? $"{span.TotalSeconds:F1} s" : span.ToString(span.TotalHours < 1 ? @"m\ \m\ ss\ \s" : @"h\ \h\ mm\ \m", System.Globalization.CultureInfo.InvariantCulture);

    public Issue? Issue { get; private set; }

    public DeliveryCounts? Counts { get; private set; }

    public int Percent { get; private set; }

    public string Rate { get; private set; } = "";

    public string Eta { get; private set; } = "";

    public IReadOnlyList<FailureLine> Failures { get; private set; } = [];

    public string? Relay { get; private set; }

    public (Charts.Chart Delivery, Charts.Chart Readers)? Activity { get; private set; }

    /// <summary>The issue's counted links, most opened first; empty when its links were not rewritten.</summary>
    public IReadOnlyList<Tracking.IssueLink> Links { get; private set; } = [];

    public bool LinkClicksOn => clicks.Enabled;

    [BindProperty(SupportsGet = true, Name = "message")]
    public string? Message { get; set; }

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct)
    {
        Issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (Issue is null)
        {
            return NotFound();
        }

        var snapshot = await progress.ReadAsync(id, ct);
        (Counts, Percent, Rate, Eta, Relay) = (snapshot.Counts, snapshot.Percent, snapshot.Rate, snapshot.Eta, snapshot.Relay);
        Failures = await (from d in db.Deliveries.AsNoTracking()
                          join s in db.Subscribers.AsNoTracking() on d.SubscriberId equals s.Id
                          where d.IssueId == id && (d.Status == DeliveryStatus.Failed || d.Status == DeliveryStatus.Deferred || d.Status == DeliveryStatus.Held)
                          orderby d.Id
                          select new FailureLine(s.Id, s.Email, d.Status, d.SmtpCode, d.LastError)).Take(200).ToListAsync(ct);
        Activity = await activity.ReadAsync(Issue, ct);
        Links = await db.IssueLinks.AsNoTracking().Where(l => l.IssueId == id).OrderByDescending(l => l.Clicks).ThenBy(l => l.Number).Take(500).ToListAsync(ct);
        return Page();
    }

    public async Task<IActionResult> OnPostPauseAsync(int id, CancellationToken ct) =>
        Done(id, await sender.PauseAsync(id, "Paused by an author.", ct) ? "Paused. Workers stop after their current batch." : "Not sending, so nothing to pause.");

    public async Task<IActionResult> OnPostResumeAsync(int id, CancellationToken ct) =>
        Done(id, await sender.ResumeAsync(id, ct) ? "Resumed." : "Not paused.");

    public async Task<IActionResult> OnPostCancelAsync(int id, CancellationToken ct) =>
        Done(id, await sender.CancelAsync(id, ct) ? "Cancelled. Nobody else will receive it." : "Nothing to cancel.");

    public async Task<IActionResult> OnPostWithdrawAsync(int id, CancellationToken ct) =>
        Done(id, await sender.SetWebPageAsync(id, keep: false, ct) ? "Taken off the site. Its address now says the issue was withdrawn." : "It was not on the site.");

    public async Task<IActionResult> OnPostRepublishAsync(int id, CancellationToken ct) =>
        Done(id, await sender.SetWebPageAsync(id, keep: true, ct) ? "Back on the site, at its old address and number." : "It is already on the site.");

    public async Task<IActionResult> OnPostRetryAsync(int id, CancellationToken ct)
    {
        var n = await sender.RetryFailedAsync(id, ct);
        return Done(id, n > 0 ? $"Sending again to {n:N0} {(n == 1 ? "recipient" : "recipients")}." : "Nobody to retry (bounced and unsubscribed readers are never retried).");
    }

    private RedirectResult Done(int id, string message) => Redirect($"/admin/issues/{id}/progress?message={Uri.EscapeDataString(message)}");
}
