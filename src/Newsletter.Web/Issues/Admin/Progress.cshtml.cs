using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Admin;
using Newsletter.Web.Audit;
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

    /// <summary>The time left, or null when there is no honest figure (the page shows "—").</summary>
    public string? Eta { get; private set; }

    public IReadOnlyList<FailureLine> Failures { get; private set; } = [];

    public string? Relay { get; private set; }

    public (Charts.Chart Delivery, Charts.Chart Readers)? Activity { get; private set; }

    /// <summary>The issue's counted links, most opened first; empty when its links were not rewritten.</summary>
    public IReadOnlyList<Tracking.IssueLink> Links { get; private set; } = [];

    public bool LinkClicksOn => clicks.Enabled;

    [TempData(Key = AdminFlash.Key)]
    public string? Message { get; set; }

    /// <summary>Who sent or scheduled it, from the audit log.</summary>
    public AuditEntry? SentBy { get; private set; }

    public async Task<IActionResult> OnGetAsync(int id, [FromServices] AuditLog audit, CancellationToken ct)
    {
        SentBy = await audit.SentByAsync(id, ct);
        Issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (Issue is null)
        {
            return NotFound();
        }

        var snapshot = await progress.ReadAsync(id, Issue.Status, ct);
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

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostPauseAsync(int id, [FromServices] AuditLog audit, CancellationToken ct) =>
        await DoneAsync(id, audit, AuditActions.IssuePause, await sender.PauseAsync(id, "Paused by an author.", ct), "Paused. Workers stop after their current batch.", "Not sending, so nothing to pause.", ct);

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostResumeAsync(int id, [FromServices] AuditLog audit, CancellationToken ct) =>
        await DoneAsync(id, audit, AuditActions.IssueResume, await sender.ResumeAsync(id, ct), "Resumed.", "Not paused.", ct);

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostCancelAsync(int id, [FromServices] AuditLog audit, CancellationToken ct) =>
        await DoneAsync(id, audit, AuditActions.IssueCancel, await sender.CancelAsync(id, ct), "Cancelled. Nobody else will receive it.", "Nothing to cancel.", ct);

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostWithdrawAsync(int id, [FromServices] AuditLog audit, CancellationToken ct) =>
        await DoneAsync(id, audit, AuditActions.IssueWithdraw, await sender.SetWebPageAsync(id, keep: false, ct), "Taken off the site. Its address now says the issue was withdrawn.", "It was not on the site.", ct);

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostRepublishAsync(int id, [FromServices] AuditLog audit, CancellationToken ct) =>
        await DoneAsync(id, audit, AuditActions.IssueRepublish, await sender.SetWebPageAsync(id, keep: true, ct), "Back on the site, at its old address and number.", "It is already on the site.", ct);

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostRetryAsync(int id, [FromServices] AuditLog audit, CancellationToken ct)
    {
        var n = await sender.RetryFailedAsync(id, ct);
        return await DoneAsync(id, audit, AuditActions.IssueRetry, n > 0, $"Sending again to {n:N0} {(n == 1 ? "recipient" : "recipients")}.", "Nobody to retry (bounced and unsubscribed readers are never retried).", ct);
    }

    private async Task<RedirectResult> DoneAsync(int id, AuditLog audit, string action, bool changed, string yes, string no, CancellationToken ct)
    {
        if (changed)
        {
            await audit.IssueAsync(User, action, id, "", ct);
        }

        return Done(id, changed ? yes : no);
    }

    private RedirectResult Done(int id, string message) => this.RedirectWithMessage($"/admin/issues/{id}/progress", message);
}
