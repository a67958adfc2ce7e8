using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;

namespace Newsletter.Web.Issues.Admin;

public sealed class EditModel(AppDbContext db, IssueEditor editor, IssuePreviews previews, Segments.Audiences audiences, IOptions<SiteOptions> site, TimeProvider clock) : PageModel
{
    public Issue? Issue { get; private set; }

    public IReadOnlyList<Note> Notes { get; private set; } = [];

    public HashSet<int> Included { get; private set; } = [];

    /// <summary>Topics the segment builder offers: those offered to readers and every tag a reader has.</summary>
    public IReadOnlyList<string> AudienceTopics { get; private set; } = [];

    /// <summary>Earlier issues that went out by email, for "got" / "did not get".</summary>
    public IReadOnlyList<Segments.SentIssue> SentIssues { get; private set; } = [];

    /// <summary>The segment as the form shows it: the saved one, or what was posted when a save was refused.</summary>
    public Segments.SegmentInput SegmentShown { get; private set; } = Segments.SegmentInput.Of(Segments.Segment.Everyone);

    public string SegmentDescription => Issue!.Segment.Describe(id => SentIssues.FirstOrDefault(i => i.Id == id) is { } i ? $"#{i.Number} “{i.Subject}”" : $"issue {id}");

    /// <summary>How many readers a send would reach now, said on the button that sends.</summary>
    public int AudienceCount { get; private set; }

    /// <summary>What preflight says of the saved version, shown in the confirm step before a send.</summary>
    public IReadOnlyList<string> Warnings { get; private set; } = [];

    /// <summary>This page answers a save refused because the draft was saved elsewhere first: the browser's copy is the author's text.</summary>
    public bool RefusedAsStale { get; private set; }

    [TempData(Key = AdminFlash.Key)]
    public string? Message { get; set; }

    public string TimeZone => site.Value.TimeZone;

    /// <summary>The saved version the page shows; an autosave from an older one is refused rather than overwrite a newer save.</summary>
    public string Version => VersionOf(Issue!.UpdatedAt);

    // Microseconds: PostgreSQL keeps no finer time, so a version read back from either database matches.
    private static string VersionOf(DateTime updatedAt) => (updatedAt.Ticks / 10).ToString(CultureInfo.InvariantCulture);

    public string DefaultScheduleValue => site.Value.ToLocal(Issue?.ScheduledAt ?? clock.GetUtcNow().UtcDateTime.AddHours(1)).ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture);

    /// <summary>The schedule field's max: the browser stops a mistyped year before the server has to.</summary>
    public string LatestScheduleValue => site.Value.ToLocal(clock.GetUtcNow().UtcDateTime + IssueEditor.LatestSchedule).ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture);

    public string Local(DateTime utc) => site.Value.ToLocal(utc).ToString("dddd d MMMM yyyy, HH:mm", CultureInfo.InvariantCulture) + " " + TimeZone;

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct)
    {
        if (!await LoadAsync(id, ct))
        {
            return NotFound();
        }

        return Issue!.IsEditable ? Page() : Redirect($"/admin/issues/{id}/progress");
    }

    public async Task<IActionResult> OnPostSaveAsync(int id, string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? channel, CancellationToken ct)
    {
        var (result, _) = await SaveAsync(id, subject, preheader, slug, tags, markdown, notes, channel, compare: false, ct);
        return result ?? this.RedirectWithMessage($"/admin/issues/{id}", "Saved.");
    }

    /// <summary>
    /// The editor's save as the author types (wwwroot/js/autosave.js): drafts only, and only over the version the
    /// page was showing, so a second tab or a co-author's newer save is never overwritten without being seen.
    /// Answers JSON; a refused field comes back by name, and the script keeps the text in the browser meanwhile.
    /// </summary>
    public async Task<IActionResult> OnPostAutosaveAsync(int id, string? version, string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? channel, CancellationToken ct)
    {
        var status = await db.Issues.AsNoTracking().Where(i => i.Id == id && i.DeletedAt == null).Select(i => (IssueStatus?)i.Status).FirstOrDefaultAsync(ct);
        if (status is null)
        {
            return NotFound(new { error = "This issue no longer exists." });
        }

        if (status != IssueStatus.Draft)
        {
            return new ConflictObjectResult(new { error = "This issue is no longer a draft, so it is not saved by itself: press Save to change it." });
        }

        // The editor saves only over the version the page showed, looked at and written in one step.
        var draft = DraftOf(subject, preheader, slug, tags, markdown, notes, channel) with { ExpectedVersion = Shown(version) };
        var result = await editor.SaveAsync(id, draft, ct);
        return result.Outcome switch
        {
            IssueEditOutcome.Saved => await AutosavedAsync(id, ct),
            IssueEditOutcome.Stale => new ConflictObjectResult(new { error = $"This draft was saved elsewhere at {Local(await UpdatedAtAsync(id, ct))}. Reload to see that version." }),
            IssueEditOutcome.Invalid => BadRequest(new { errors = result.Errors }),
            IssueEditOutcome.NotEditable => new ConflictObjectResult(new { error = "This issue is being sent or was sent; it can no longer be edited." }),
            _ => NotFound(new { error = "This issue no longer exists." }),
        };
    }

    /// <summary>
    /// What the page needs after an autosave to stay "send what you saw": the new version, the digest of the saved
    /// text, and the Send now question and preflight warnings for it. Without them, a Send now after an autosave
    /// met a stale digest and stopped once to show the page again.
    /// </summary>
    private async Task<IActionResult> AutosavedAsync(int id, CancellationToken ct)
    {
        var issue = await db.Issues.AsNoTracking().Include(i => i.Tags).FirstAsync(i => i.Id == id, ct);
        var count = await audiences.CountAsync(issue.Segment, [.. issue.Tags.Select(t => t.Tag)], ct);
        IReadOnlyList<string> warnings = string.IsNullOrWhiteSpace(issue.Subject) ? [] : (await previews.BuildAsync(id, "preview@example.invalid", ct))?.Warnings ?? [];
        return new JsonResult(new
        {
            version = VersionOf(issue.UpdatedAt),
            seen = Digest(await FingerprintAsync(id, ct)),
            question = SendQuestion(issue, count),
            warnings,
        });
    }

    /// <summary>The version a form posted; one that is not a number matches no stored version.</summary>
    private static long Shown(string? version) => long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var shown) ? shown : -1;

    private Task<DateTime> UpdatedAtAsync(int id, CancellationToken ct) => db.Issues.AsNoTracking().Where(i => i.Id == id).Select(i => i.UpdatedAt).FirstAsync(ct);

    /// <summary>Sent from another tab or by a co-author meanwhile: that is the news, not a newer draft to restore.</summary>
    private async Task<IActionResult?> StartedElsewhereAsync(int id, CancellationToken ct) =>
        await db.Issues.AsNoTracking().Where(i => i.Id == id).Select(i => (IssueStatus?)i.Status).FirstOrDefaultAsync(ct) is { } status
            && status is not (IssueStatus.Draft or IssueStatus.Scheduled)
            ? this.RedirectWithMessage($"/admin/issues/{id}/progress", "This issue was already started from another tab or by a co-author: nothing was saved, and nothing was sent twice.")
            : null;

    /// <summary>The Send now confirmation's question, on the page and after each autosave.</summary>
    public static string SendQuestion(Issue issue, int audienceCount) => issue.WebOnly
        ? "Publish it in the archive now?"
        : $"Send “{issue.Subject}” to {audienceCount:N0} {(audienceCount == 1 ? "reader" : "readers")} now? This cannot be called back, only cancelled part way.";

    /// <summary>
    /// Saves what the form holds. Send now and Schedule post the whole editor form, so they act on what is on
    /// the screen: before, they sent the last saved version and an author's unsaved subject and body were lost
    /// (and the old ones mailed to everyone). The result is a page to show when the save did not go through;
    /// Changed says whether the saved issue differs from what was stored before.
    /// </summary>
    private async Task<(IActionResult? Result, bool Changed)> SaveAsync(int id, string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? channel, bool compare, CancellationToken ct)
    {
        // As autosave: only over the version the page showed, so a co-author's (or another tab's) newer save is never
        // overwritten unseen, nor a version nobody read sent. The browser keeps the author's text (autosave.js).
        var version = Request.Form["version"].ToString();
        if (await StartedElsewhereAsync(id, ct) is { } started)
        {
            return (started, false);
        }

        // Only a send asks what changed: a plain Save reads the issue no more than it did.
        var before = compare ? await FingerprintAsync(id, ct) : null;
        // A form without a version (an old page) saves as before; one with it only over that version.
        var draft = DraftOf(subject, preheader, slug, tags, markdown, notes, channel) with { ExpectedVersion = version.Length == 0 ? null : Shown(version) };
        var result = await editor.SaveAsync(id, draft, User.May(AuthorPolicies.Send), ct);
        switch (result.Outcome)
        {
            case IssueEditOutcome.Stale:
                // Another tab or a co-author saved since this page's version, possibly between this request's look
                // and its write, and may have started it meanwhile.
                if (await StartedElsewhereAsync(id, ct) is { } startedMeanwhile)
                {
                    return (startedMeanwhile, false);
                }

                ModelState.AddModelError("", $"This draft was saved elsewhere at {Local(await UpdatedAtAsync(id, ct))}, so nothing was saved or sent. This page shows that version; your text is kept in this browser, and “Use my text” puts it back.");
                RefusedAsStale = true;
                await LoadAsync(id, ct);
                SegmentShown = SegmentOf(Request.Form, Request.Query);
                return (Page(), false);
            case IssueEditOutcome.NotFound:
                return (NotFound(), false);
            case IssueEditOutcome.NotEditable:
                return (BadRequest("This issue is being sent or was sent; it can no longer be edited."), false);
            case IssueEditOutcome.ScheduledForSenders:
                ModelState.AddModelError("", "This issue is scheduled, so what it says and whom it reaches is what goes out at its time: only an owner or editor, who may send, can change it now. Nothing was saved; your text is kept in this browser. Ask one of them to unschedule it.");
                await LoadAsync(id, ct);
                SegmentShown = SegmentOf(Request.Form, Request.Query);
                return (Page(), false);
            case IssueEditOutcome.Invalid:
                foreach (var message in result.Errors.Values.SelectMany(m => m))
                {
                    ModelState.AddModelError("", message);
                }

                await LoadAsync(id, ct);
                // The author's segment stays on the form, to be corrected, rather than the saved one coming back.
                SegmentShown = SegmentOf(Request.Form, Request.Query);
                return (Page(), false);
        }

        if (result.WasScheduled)
        {
            // What goes out at the scheduled time changed: the log says who changed it, beside who scheduled it.
            await HttpContext.RequestServices.GetRequiredService<AuditLog>().IssueAsync(User, AuditActions.IssueEdit, id, "changed while scheduled", ct);
        }

        if (!compare)
        {
            return (null, false);
        }

        // Autosave may have stored the edits already, so "changed by this save" is not the question: the page says
        // which version its preview and warnings showed, and a send goes on only for that version.
        var after = await FingerprintAsync(id, ct);
        var seen = Request.Form["seen"].ToString();
        return (null, seen.Length > 0 ? seen != Digest(after) : before != after);
    }

    private IssueDraft DraftOf(string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? channel) =>
        new(subject, preheader, slug, markdown, notes, Tags.Parse(tags), SegmentOf(Request.HasFormContentType ? Request.Form : null, Request.Query),
            channel switch { "web" => IssueChannel.Web, "email" => IssueChannel.Email, _ => IssueChannel.Both });

    /// <summary>The segment builder's fields (a form post, or the live count's query string). Their names are the form's.</summary>
    private static Segments.SegmentInput SegmentOf(IFormCollection? form, IQueryCollection query)
    {
        Microsoft.Extensions.Primitives.StringValues Field(string name) => form is not null && form.ContainsKey(name) ? form[name] : query[name];
        string? One(string name) => Field(name).FirstOrDefault();
        return new([.. Field("segmentTopics").Select(t => t ?? "")], One("segmentMatch"), One("joinedFrom"), One("joinedBefore"), One("gotIssue"), One("missedIssue"));
    }

    /// <summary>
    /// The live count beside the segment builder (wwwroot/js/segment-count.js): how many readers the form's current
    /// segment and tags reach now, with the snapshot's own SQL; a segment that would be refused on save says why.
    /// </summary>
    public async Task<IActionResult> OnGetCountAsync(int id, string? tags, CancellationToken ct)
    {
        var check = await audiences.CheckAsync(SegmentOf(null, Request.Query), id, ct);
        if (check.Segment is not { } segment)
        {
            return BadRequest(new { errors = check.Errors });
        }

        var count = await audiences.CountAsync(segment, [.. Tags.Parse(tags)], ct);
        return new JsonResult(new { count, text = $"{count:N0} {(count == 1 ? "reader" : "readers")}", description = segment.Describe() });
    }

    /// <summary>The fingerprint of the version the page shows, sent back with Send now and Schedule.</summary>
    public string Seen { get; private set; } = "";

    private static string Digest(string? fingerprint) =>
        fingerprint is null ? "" : Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(fingerprint)));

    /// <summary>Everything a reader would get from the issue, as stored: two equal fingerprints send the same email.</summary>
    private async Task<string?> FingerprintAsync(int id, CancellationToken ct)
    {
        var i = await db.Issues.AsNoTracking().Include(x => x.Notes).Include(x => x.Tags).FirstOrDefaultAsync(x => x.Id == id, ct);
        return i is null ? null : string.Join('\u001f', i.Subject, i.Preheader, i.Slug, i.Markdown, i.Segment.ToJson(), i.WebOnly, i.EmailOnly,
            string.Join(',', i.Notes.OrderBy(n => n.Position).Select(n => n.NoteId)), string.Join(',', i.Tags.Select(t => t.Tag).Order()));
    }

    /// <summary>
    /// Before a send or schedule: saves the editor's fields, which come along because the button belongs to the
    /// editor form. Null lets the send go on; a page stops it (the save failed, or it changed the issue, which the
    /// author then sees before anything goes out). A post without the fields (an older page, a script) acts on the
    /// saved version as before.
    /// </summary>
    private async Task<IActionResult?> SaveWhatIsOnScreenAsync(int id, string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? channel, CancellationToken ct)
    {
        if (!Request.Form.ContainsKey("subject"))
        {
            return null;
        }

        var (failed, changed) = await SaveAsync(id, subject, preheader, slug, tags, markdown, notes, channel, compare: true, ct);
        return failed ?? (changed ? SavedNotSent(id) : null);
    }

    /// <summary>Edits were on the screen: they are saved, and nothing goes out until the author has seen them.</summary>
    private RedirectResult SavedNotSent(int id) =>
        this.RedirectWithMessage($"/admin/issues/{id}", "Your changes were saved and nothing was sent yet. Check the preview and the warnings, then send or schedule again.");

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostScheduleAsync(int id, string? at, string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? channel, [FromServices] AuditLog audit, CancellationToken ct)
    {
        if (await SaveWhatIsOnScreenAsync(id, subject, preheader, slug, tags, markdown, notes, channel, ct) is { } stop)
        {
            return stop;
        }

        if (!DateTime.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            return this.RedirectWithMessage($"/admin/issues/{id}", "That time could not be read.");
        }

        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (site.Value.Zone.IsInvalidTime(local))
        {
            // The hour clocks skip when they go forward: no such moment, so the author picks one rather than the app.
            return this.RedirectWithMessage($"/admin/issues/{id}",
                $"{local.ToString("d MMM yyyy, HH:mm", CultureInfo.InvariantCulture)} does not exist in {site.Value.TimeZone}: the clocks go forward then. Choose another time.");
        }

        var utc = TimeZoneInfo.ConvertTimeToUtc(local, site.Value.Zone);
        string? twice = null;
        if (site.Value.Zone.IsAmbiguousTime(local))
        {
            // The hour clocks repeat when they go back: the first of the two moments (.NET would take the second),
            // and the author is told which, since the time shown afterwards reads the same for both.
            utc = DateTime.SpecifyKind(local - site.Value.Zone.GetAmbiguousTimeOffsets(local).Max(), DateTimeKind.Utc);
            twice = $"{local.ToString("d MMM yyyy, HH:mm", CultureInfo.InvariantCulture)} happens twice in {site.Value.TimeZone}, as the clocks go back: "
                + $"the issue goes out at the first of the two, {utc.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC. For the second, schedule it an hour later.";
        }

        if (utc < clock.GetUtcNow().UtcDateTime.AddMinutes(-1))
        {
            return this.RedirectWithMessage($"/admin/issues/{id}", "That time is in the past. Use Send now to send at once.");
        }

        if (IssueEditor.TooFarAhead(utc, clock.GetUtcNow().UtcDateTime) is { } far)
        {
            return this.RedirectWithMessage($"/admin/issues/{id}", far);
        }

        var outcome = await editor.ScheduleAsync(id, utc, ct);
        if (outcome == ScheduleOutcome.Scheduled)
        {
            await audit.IssueAsync(User, AuditActions.IssueSchedule, id, $"for {Local(utc)}", ct);
        }

        return outcome switch
        {
            ScheduleOutcome.NotFound => NotFound(),
            ScheduleOutcome.NotReady => NotReady(id),
            ScheduleOutcome.NoteNotPublished => this.RedirectWithMessage($"/admin/issues/{id}", $"Not scheduled: {editor.UnpublishedNote}"),
            ScheduleOutcome.AlreadyGoing => Redirect($"/admin/issues/{id}/progress"),
            // The page says when it goes out in its own notice; a second "Scheduled for" here said it twice.
            _ => twice is null ? Redirect($"/admin/issues/{id}") : this.RedirectWithMessage($"/admin/issues/{id}", twice),
        };
    }

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostSendNowAsync(int id, string? subject, string? preheader, string? slug, string? tags, string? markdown, int[]? notes, string? channel, [FromServices] AuditLog audit, CancellationToken ct)
    {
        if (await SaveWhatIsOnScreenAsync(id, subject, preheader, slug, tags, markdown, notes, channel, ct) is { } stop)
        {
            return stop;
        }

        var outcome = await editor.ScheduleAsync(id, clock.GetUtcNow().UtcDateTime, ct);
        if (outcome == ScheduleOutcome.Scheduled)
        {
            await audit.IssueAsync(User, AuditActions.IssueSend, id, "now", ct);
        }

        return outcome switch
        {
            ScheduleOutcome.NotFound => NotFound(),
            ScheduleOutcome.NotReady => NotReady(id),
            ScheduleOutcome.NoteNotPublished => this.RedirectWithMessage($"/admin/issues/{id}", $"Not sent: {editor.UnpublishedNote}"),
            _ => Redirect($"/admin/issues/{id}/progress"),
        };
    }

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostUnscheduleAsync(int id, [FromServices] AuditLog audit, CancellationToken ct)
    {
        if (await editor.UnscheduleAsync(id, ct))
        {
            await audit.IssueAsync(User, AuditActions.IssueUnschedule, id, "back to draft", ct);
        }

        return this.RedirectWithMessage($"/admin/issues/{id}", "Unscheduled: back to draft.");
    }

    public async Task<IActionResult> OnPostDeleteAsync(int id, CancellationToken ct)
    {
        var deleted = await editor.DeleteDraftAsync(id, ct);
        return this.RedirectWithMessage("/admin/issues", deleted ? "Draft deleted." : "Only drafts can be deleted.");
    }

    private RedirectResult NotReady(int id) =>
        this.RedirectWithMessage($"/admin/issues/{id}", "Save the issue with a subject before sending.");

    private async Task<bool> LoadAsync(int id, CancellationToken ct)
    {
        Issue = await db.Issues.AsNoTracking().Include(i => i.Notes).Include(i => i.Tags).FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (Issue is null)
        {
            return false;
        }

        Included = [.. Issue.Notes.Select(n => n.NoteId)];
        Seen = Digest(await FingerprintAsync(id, ct));
        Notes = await db.Notes.AsNoTracking().Where(n => n.Kind == NoteKind.Note && n.Status == NoteStatus.Published && n.DeletedAt == null)
            .OrderByDescending(n => n.Date).Take(100).ToListAsync(ct);
        AudienceTopics = await audiences.KnownTopicsAsync(ct);
        SentIssues = await audiences.SentIssuesAsync(id, ct);
        SegmentShown = Segments.SegmentInput.Of(Issue.Segment);
        AudienceCount = await audiences.CountAsync(Issue.Segment, [.. Issue.Tags.Select(t => t.Tag)], ct);
        if (Issue.IsEditable && !string.IsNullOrWhiteSpace(Issue.Subject))
        {
            Warnings = (await previews.BuildAsync(id, "preview@example.invalid", ct))?.Warnings ?? [];
        }

        return true;
    }
}
