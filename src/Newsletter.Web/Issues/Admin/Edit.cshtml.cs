using System.Globalization;
using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;

namespace Newsletter.Web.Issues.Admin;

public sealed class EditModel(AppDbContext db, IssueComposer composer, IBackgroundJobClient jobs, ContentChanges changes, IOptions<SiteOptions> site, TimeProvider clock) : PageModel
{
    public Issue? Issue { get; private set; }

    public IReadOnlyList<Note> Notes { get; private set; } = [];

    public HashSet<int> Included { get; private set; } = [];

    public IReadOnlyList<string> AudienceTags { get; private set; } = [];

    /// <summary>How many readers a send would reach now, said on the button that sends.</summary>
    public int AudienceCount { get; private set; }

    [BindProperty(SupportsGet = true, Name = "message")]
    public string? Message { get; set; }

    public string TimeZone => site.Value.TimeZone;

    public string DefaultScheduleValue => site.Value.ToLocal(Issue?.ScheduledAt ?? clock.GetUtcNow().UtcDateTime.AddHours(1)).ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture);

    public string Local(DateTime utc) => site.Value.ToLocal(utc).ToString("dddd d MMMM yyyy, HH:mm", CultureInfo.InvariantCulture) + " " + TimeZone;

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct)
    {
        if (!await LoadAsync(id, ct))
        {
            return NotFound();
        }

        return Issue!.IsEditable ? Page() : Redirect($"/admin/issues/{id}/progress");
    }

    public async Task<IActionResult> OnPostSaveAsync(int id, string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? audience, string? channel, CancellationToken ct)
    {
        var issue = await db.Issues.Include(i => i.Notes).Include(i => i.Tags).FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (issue is null)
        {
            return NotFound();
        }

        if (!issue.IsEditable)
        {
            return BadRequest("This issue is being sent or was sent; it can no longer be edited.");
        }

        subject = (subject ?? "").Trim();
        // Subjects become a mail header: a line break there is header injection, not formatting.
        if (subject.Length == 0 || subject.Any(char.IsControl))
        {
            ModelState.AddModelError("", "Give the issue a subject on one line.");
        }

        var wantedSlug = string.IsNullOrWhiteSpace(slug) ? NoteFile.Slugify(subject) : slug.Trim();
        if (wantedSlug.Length == 0 || !NoteFile.IsValidSlug(wantedSlug))
        {
            ModelState.AddModelError("", "The slug may only hold a-z, 0-9 and inner hyphens.");
        }
        else if (await db.Issues.AnyAsync(i => i.Slug == wantedSlug && i.Id != id, ct))
        {
            ModelState.AddModelError("", $"Another issue already uses the slug '{wantedSlug}'.");
        }

        if ((markdown?.Length ?? 0) > 1_000_000)
        {
            ModelState.AddModelError("", "The body is larger than 1,000,000 characters.");
        }

        // The ids come from the form: one that was deleted meanwhile (or made up) would otherwise fail the
        // foreign key on save and show a 500.
        var noteIds = (notes ?? []).Distinct().ToList();
        var known = await db.Notes.CountAsync(n => noteIds.Contains(n.Id) && n.DeletedAt == null, ct);
        if (known != noteIds.Count)
        {
            ModelState.AddModelError("", "A chosen note no longer exists. Check the list of notes and save again.");
        }

        if (!ModelState.IsValid)
        {
            await LoadAsync(id, ct);
            return Page();
        }

        issue.Subject = subject;
        issue.Preheader = new string([.. (preheader ?? "").Where(c => !char.IsControl(c))]).Trim();
        issue.Slug = wantedSlug;
        issue.Markdown = markdown ?? "";
        issue.AudienceTag = string.IsNullOrWhiteSpace(audience) ? null : Tags.Normalize(audience);
        issue.WebOnly = channel == "web";
        issue.EmailOnly = channel == "email";
        issue.Notes.Clear();
        var position = 0;
        foreach (var noteId in noteIds)
        {
            issue.Notes.Add(new IssueNote { NoteId = noteId, Position = position++ });
        }

        var wanted = Tags.Parse(tags).ToHashSet();
        issue.Tags.RemoveAll(t => !wanted.Contains(t.Tag));
        foreach (var t in wanted.Where(w => issue.Tags.All(x => x.Tag != w)))
        {
            issue.Tags.Add(new IssueTag { Tag = t });
        }

        issue.Summary = "";
        await composer.ComposeAsync(issue, ct);
        issue.UpdatedAt = clock.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);
        return Redirect($"/admin/issues/{id}?message=Saved.");
    }

    public async Task<IActionResult> OnPostScheduleAsync(int id, string? at, CancellationToken ct)
    {
        if (!DateTime.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            return Redirect($"/admin/issues/{id}?message=" + Uri.EscapeDataString("That time could not be read."));
        }

        var utc = TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), site.Value.Zone);
        if (utc < clock.GetUtcNow().UtcDateTime.AddMinutes(-1))
        {
            return Redirect($"/admin/issues/{id}?message=" + Uri.EscapeDataString("That time is in the past. Use Send now to send at once."));
        }

        return await ScheduleAsync(id, utc, $"Scheduled for {Local(utc)}.", ct);
    }

    public async Task<IActionResult> OnPostSendNowAsync(int id, CancellationToken ct)
    {
        var result = await ScheduleAsync(id, clock.GetUtcNow().UtcDateTime, null, ct);
        return result is RedirectResult { Url: var url } && url.Contains("error", StringComparison.Ordinal) ? result : Redirect($"/admin/issues/{id}/progress");
    }

    public async Task<IActionResult> OnPostUnscheduleAsync(int id, CancellationToken ct)
    {
        // The Hangfire job may still fire at the old time; it finds a Draft and does nothing.
        await db.Issues.Where(i => i.Id == id && i.Status == IssueStatus.Scheduled)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Draft).SetProperty(i => i.ScheduledAt, (DateTime?)null), ct);
        return Redirect($"/admin/issues/{id}?message=" + Uri.EscapeDataString("Unscheduled: back to draft."));
    }

    public async Task<IActionResult> OnPostDeleteAsync(int id, CancellationToken ct)
    {
        var deleted = await db.Issues.Where(i => i.Id == id && i.Status == IssueStatus.Draft).ExecuteDeleteAsync(ct);
        await changes.IssuesChangedAsync(ct);
        return Redirect("/admin/issues?message=" + Uri.EscapeDataString(deleted > 0 ? "Draft deleted." : "Only drafts can be deleted."));
    }

    private async Task<IActionResult> ScheduleAsync(int id, DateTime utc, string? message, CancellationToken ct)
    {
        var issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (issue is null)
        {
            return NotFound();
        }

        if (string.IsNullOrWhiteSpace(issue.Subject) || issue.Slug.StartsWith("draft-", StringComparison.Ordinal))
        {
            return Redirect($"/admin/issues/{id}?message=" + Uri.EscapeDataString("Save the issue with a subject before sending (error)."));
        }

        // The conditional update is the guard: a double click, or a second tab, schedules once.
        var moved = await db.Issues.Where(i => i.Id == id && (i.Status == IssueStatus.Draft || i.Status == IssueStatus.Scheduled))
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Scheduled).SetProperty(i => i.ScheduledAt, utc), ct);
        if (moved == 0)
        {
            return Redirect($"/admin/issues/{id}/progress");
        }

        var delay = utc - clock.GetUtcNow().UtcDateTime;
        if (delay <= TimeSpan.FromSeconds(1))
        {
            jobs.Enqueue<IssueSender>(s => s.StartAsync(id, CancellationToken.None));
        }
        else
        {
            jobs.Schedule<IssueSender>(s => s.StartAsync(id, CancellationToken.None), delay);
        }

        return Redirect($"/admin/issues/{id}?message=" + Uri.EscapeDataString(message ?? "Sending."));
    }

    private async Task<bool> LoadAsync(int id, CancellationToken ct)
    {
        Issue = await db.Issues.AsNoTracking().Include(i => i.Notes).Include(i => i.Tags).FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (Issue is null)
        {
            return false;
        }

        Included = [.. Issue.Notes.Select(n => n.NoteId)];
        Notes = await db.Notes.AsNoTracking().Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null)
            .OrderByDescending(n => n.Date).Take(100).ToListAsync(ct);
        AudienceTags = await db.SubscriberTags.Select(t => t.Tag).Distinct().OrderBy(t => t).Take(200).ToListAsync(ct);
        AudienceCount = await Ledger.Audience(db, Issue.AudienceTag, clock.GetUtcNow().UtcDateTime).CountAsync(ct);
        return true;
    }
}
