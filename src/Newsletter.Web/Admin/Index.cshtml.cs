using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Admin;

/// <summary>
/// The first page an author sees: what needs them (a send that paused itself and why, jobs that failed,
/// imports that stopped), what is going out, and the list and the writing at a glance.
/// </summary>
public sealed class DashboardModel(AppDbContext db, Charts.ReaderHistory history, JobStorage jobs, TimeProvider clock, Microsoft.Extensions.Options.IOptions<Sending.SendingOptions> sending, Microsoft.Extensions.Options.IOptions<Site.SiteOptions> site, Operations.StartupWarnings warnings, Tracking.LinkClicks clicks) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "welcome")]
    public bool Welcome { get; set; }

    /// <summary>The reader chart's period, from plain links (?readers=week), so it works without script.</summary>
    [BindProperty(SupportsGet = true, Name = "readers")]
    public string? Period { get; set; }

    public Charts.ChartPeriod ChartPeriod { get; private set; }

    public Charts.Chart? Readers { get; private set; }

    public int PublishedNotes { get; private set; }

    public int DraftNotes { get; private set; }

    public int ActiveSubscribers { get; private set; }

    public int PendingSubscribers { get; private set; }

    public int SentIssues { get; private set; }

    public long FailedJobs { get; private set; }

    public IReadOnlyList<Issue> Paused { get; private set; } = [];

    /// <summary>What the sending nodes say of the SMTP relay while it fails, or null.</summary>
    public string? Relay { get; private set; }

    public IReadOnlyList<Issue> InFlight { get; private set; } = [];

    /// <summary>Settings to fix before the site is live, as the start-up check found them.</summary>
    public IReadOnlyList<string> SettingsToFix => warnings.Items;

    public bool LinkClicksOn => clicks.Enabled;

    public IReadOnlyList<SubscriberImport> FailedImports { get; private set; } = [];

    /// <summary>
    /// Finished sends that held readers back for the author's decision (cut short twice, so a copy may already have
    /// reached them twice): nobody else will send to them, so the author must hear of it somewhere they look.
    /// </summary>
    public IReadOnlyList<HeldIssue> Held { get; private set; } = [];

    public sealed record HeldIssue(int Id, string Subject, int Readers);

    public async Task OnGetAsync(CancellationToken ct)
    {
        var notes = db.Notes.Where(n => n.Kind == NoteKind.Note && n.DeletedAt == null);
        PublishedNotes = await notes.CountAsync(n => n.Status == NoteStatus.Published, ct);
        DraftNotes = await notes.CountAsync(n => n.Status == NoteStatus.Draft, ct);
        ActiveSubscribers = await db.Subscribers.CountAsync(s => s.Status == SubscriberStatus.Active, ct);
        PendingSubscribers = await db.Subscribers.CountAsync(s => s.Status == SubscriberStatus.Pending, ct);
        var issues = db.Issues.AsNoTracking().Where(i => i.DeletedAt == null);
        SentIssues = await issues.CountAsync(i => i.Status == IssueStatus.Sent, ct);
        Paused = await issues.Where(i => i.Status == IssueStatus.Paused).OrderBy(i => i.Id).ToListAsync(ct);
        InFlight = await issues.Where(i => i.Status == IssueStatus.Scheduled || i.Status == IssueStatus.Preparing || i.Status == IssueStatus.Sending)
            .OrderBy(i => i.ScheduledAt).ToListAsync(ct);
        // A month is long enough to be seen; after that, leaving them held is taken as the author's decision.
        var monthAgo = clock.GetUtcNow().UtcDateTime.AddDays(-30);
        var held = await issues.Where(i => i.Status == IssueStatus.Sent && i.CompletedAt > monthAgo)
            .Select(i => new { i.Id, i.Subject, Readers = db.Deliveries.Count(d => d.IssueId == i.Id && d.Status == Sending.DeliveryStatus.Held) })
            .Where(h => h.Readers > 0).OrderBy(h => h.Id).ToListAsync(ct);
        Held = held.ConvertAll(h => new HeldIssue(h.Id, h.Subject, h.Readers));
        var weekAgo = DateTime.UtcNow.AddDays(-7);
        FailedImports = await db.SubscriberImports.AsNoTracking().Where(i => i.Status == ImportStatus.Failed && i.CreatedAt > weekAgo).OrderByDescending(i => i.Id).Take(5).ToListAsync(ct);
        FailedJobs = jobs.GetMonitoringApi().FailedCount();
        ChartPeriod = Enum.TryParse<Charts.ChartPeriod>(Period, ignoreCase: true, out var period) && Enum.IsDefined(period) && !int.TryParse(Period, out _) ? period : Charts.ChartPeriod.Day;
        Readers = await history.ReadAsync(ChartPeriod, ct);
        Relay = await Sending.RelayStatus.DescribeAsync(db, clock, sending.Value, site.Value, ct);
    }
}
