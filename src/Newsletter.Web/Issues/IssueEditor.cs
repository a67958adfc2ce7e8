using Hangfire;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Issues;

/// <summary>What an author (in the admin or through the API) writes into a draft. Null fields are left empty.</summary>
public sealed record IssueDraft(string? Subject, string? Preheader, string? Slug, string? Markdown, IReadOnlyList<int>? NoteIds, IEnumerable<string>? Tags, Segments.SegmentInput? Segment, IssueChannel Channel)
{
    /// <summary>
    /// The version (UpdatedAt in microseconds) the editor's page showed: the save goes through only over that one,
    /// checked and written in one step, so two tabs saving at once can't both be told "Saved" while one's text is lost.
    /// </summary>
    public long? ExpectedVersion { get; init; }
}

/// <summary>Where an issue goes: by email and on the site, or only one of them.</summary>
public enum IssueChannel
{
    Both,
    Web,
    Email,
}

public enum IssueEditOutcome
{
    Saved,
    NotFound,

    /// <summary>Sending or sent: the body that readers got can no longer change.</summary>
    NotEditable,
    Invalid,

    /// <summary>
    /// Scheduled, and the author may not send: what a scheduled issue says and whom it reaches is what goes out at
    /// its time, so changing it is sending. A writer's changes would otherwise leave unseen under an editor's schedule.
    /// </summary>
    ScheduledForSenders,

    /// <summary>Saved elsewhere since the version the page showed (<see cref="IssueDraft.ExpectedVersion"/>): nothing was saved.</summary>
    Stale,
}

/// <summary>A save's outcome; <see cref="Errors"/> names each field that was refused and why.</summary>
public sealed record IssueEditResult(IssueEditOutcome Outcome, IReadOnlyDictionary<string, string[]> Errors)
{
    public static readonly IssueEditResult Saved = new(IssueEditOutcome.Saved, new Dictionary<string, string[]>());

    /// <summary>Saved over a schedule: what goes out at its time changed, which the caller records in the audit log.</summary>
    public static readonly IssueEditResult SavedWhileScheduled = new(IssueEditOutcome.Saved, new Dictionary<string, string[]>()) { WasScheduled = true };
    public static readonly IssueEditResult NotFound = new(IssueEditOutcome.NotFound, new Dictionary<string, string[]>());
    public static readonly IssueEditResult NotEditable = new(IssueEditOutcome.NotEditable, new Dictionary<string, string[]>());
    public static readonly IssueEditResult Stale = new(IssueEditOutcome.Stale, new Dictionary<string, string[]>());

    public bool WasScheduled { get; private init; }
}

public enum ScheduleOutcome
{
    /// <summary>Scheduled for later, or enqueued to start now.</summary>
    Scheduled,
    NotFound,

    /// <summary>No subject or slug yet: it was never saved.</summary>
    NotReady,

    /// <summary>Already starting, sending or sent: a second "send now" changes nothing.</summary>
    AlreadyGoing,

    /// <summary>It includes a note that is not published (any more): <see cref="IssueEditor.UnpublishedNote"/> says which.</summary>
    NoteNotPublished,
}

/// <summary>
/// Every change an author makes to an issue before it goes out: create, save, schedule, send now, unschedule,
/// delete. The admin pages and the API call the same methods, so a rule (a subject on one line, a unique slug,
/// notes that exist, one start per issue) is checked in one place. From Preparing on, the issue's state belongs
/// to <see cref="IssueSender"/>.
/// </summary>
public sealed class IssueEditor(AppDbContext db, IssueComposer composer, Segments.Audiences audiences, IBackgroundJobClient jobs, ContentChanges changes, TimeProvider clock)
{
    /// <summary>The largest body an issue may have, in characters.</summary>
    public const int MaxMarkdown = 1_000_000;

    /// <summary>An empty draft with a placeholder slug, so it can be saved before it has a subject.</summary>
    public async Task<Issue> CreateAsync(CancellationToken ct)
    {
        var issue = new Issue { Slug = $"draft-{Guid.NewGuid():N}"[..20], Status = IssueStatus.Draft, CreatedAt = clock.GetUtcNow().UtcDateTime, UpdatedAt = clock.GetUtcNow().UtcDateTime };
        db.Issues.Add(issue);
        await db.SaveChangesAsync(ct);
        return issue;
    }

    /// <summary>A save by the app itself (a digest's draft) or by one who may send.</summary>
    public Task<IssueEditResult> SaveAsync(int id, IssueDraft draft, CancellationToken ct) => SaveAsync(id, draft, maySend: true, ct);

    /// <param name="maySend">Whether the author saving may send; one who may not changes drafts only.</param>
    public async Task<IssueEditResult> SaveAsync(int id, IssueDraft draft, bool maySend, CancellationToken ct)
    {
        var issue = await db.Issues.Include(i => i.Notes).Include(i => i.Tags).FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (issue is null)
        {
            return IssueEditResult.NotFound;
        }

        if (!issue.IsEditable)
        {
            return IssueEditResult.NotEditable;
        }

        if (!maySend && issue.Status != IssueStatus.Draft)
        {
            return new IssueEditResult(IssueEditOutcome.ScheduledForSenders, new Dictionary<string, string[]>());
        }

        var wasScheduled = issue.Status == IssueStatus.Scheduled;
        var loaded = issue.UpdatedAt;
        if (draft.ExpectedVersion is { } expected && loaded.Ticks / 10 != expected)
        {
            return IssueEditResult.Stale;
        }

        var errors = new Dictionary<string, string[]>();
        var subject = (draft.Subject ?? "").Trim();
        // Subjects become a mail header: a line break there is header injection, not formatting.
        if (subject.Length == 0 || subject.Any(Infrastructure.OneLine.IsBreak))
        {
            errors["subject"] = ["Give the issue a subject on one line."];
        }
        else if (subject.Length > 300)
        {
            errors["subject"] = ["The subject is longer than 300 characters."];
        }

        if ((draft.Preheader?.Length ?? 0) > 300)
        {
            errors["preheader"] = ["The preheader is longer than 300 characters."];
        }

        var wantedSlug = string.IsNullOrWhiteSpace(draft.Slug) ? NoteFile.Slugify(subject) : draft.Slug.Trim();
        if (string.IsNullOrWhiteSpace(draft.Slug) && NoteFile.IsValidSlug(wantedSlug))
        {
            wantedSlug = await FreeSlug.FindAsync(db.Issues.Where(i => i.Id != id).Select(i => i.Slug), wantedSlug, issue.Slug, ct);
        }

        if (wantedSlug.Length == 0 && string.IsNullOrWhiteSpace(draft.Slug))
        {
            // No slug was given and the subject made none: say that, once; a missing subject is said already.
            if (!errors.ContainsKey("subject"))
            {
                errors["slug"] = ["The subject has no letters a-z or digits to make a web address from: type a slug."];
            }
        }
        else if (wantedSlug.Length == 0 || wantedSlug.Length > 120 || !NoteFile.IsValidSlug(wantedSlug))
        {
            errors["slug"] = ["The slug may only hold a-z, 0-9 and inner hyphens, at most 120 characters."];
        }
        else if (await db.Issues.AnyAsync(i => i.Slug == wantedSlug && i.Id != id, ct))
        {
            errors["slug"] = [$"Another issue already uses the slug '{wantedSlug}'."];
        }

        if ((draft.Markdown?.Length ?? 0) > MaxMarkdown)
        {
            errors["markdown"] = ["The body is larger than 1,000,000 characters."];
        }
        else if (Content.MarkdownShape.TooComplex(draft.Markdown) is { } tooComplex)
        {
            // Refused here, not when the issue is previewed or sent: rendering it would take the server minutes.
            errors["markdown"] = [tooComplex];
        }

        // The ids come from a form or a client: one that was deleted meanwhile (or made up) would otherwise
        // fail the foreign key on save and answer with a 500.
        var noteIds = (draft.NoteIds ?? []).Distinct().ToList();
        var chosen = await ChosenNotesAsync(noteIds, ct);
        if (chosen.Count(n => n.Exists) != noteIds.Count)
        {
            errors["notes"] = ["A chosen note no longer exists. Check the list of notes and save again."];
        }
        else if (NotPublished(chosen) is { } unpublished)
        {
            errors["notes"] = [unpublished];
        }

        var segment = Segments.Segment.Everyone;
        if (draft.Segment is { } input)
        {
            var check = await audiences.CheckAsync(input, id, ct);
            foreach (var (field, messages) in check.Errors)
            {
                errors[field] = messages;
            }

            segment = check.Segment ?? segment;
        }

        if (errors.Count > 0)
        {
            return new IssueEditResult(IssueEditOutcome.Invalid, errors);
        }

        issue.Subject = subject;
        issue.Preheader = new string([.. (draft.Preheader ?? "").Where(c => !Infrastructure.OneLine.IsBreak(c))]).Trim();
        issue.Slug = wantedSlug;
        issue.Markdown = draft.Markdown ?? "";
        issue.Segment = segment;
        issue.WebOnly = draft.Channel == IssueChannel.Web;
        issue.EmailOnly = draft.Channel == IssueChannel.Email;
        if (!issue.Notes.OrderBy(n => n.Position).Select(n => n.NoteId).SequenceEqual(noteIds))
        {
            issue.Notes.Clear();
            var position = 0;
            foreach (var noteId in noteIds)
            {
                issue.Notes.Add(new IssueNote { NoteId = noteId, Position = position++ });
            }
        }

        var wanted = (draft.Tags ?? []).Select(Tags.Normalize).Where(t => t.Length > 0).ToHashSet(StringComparer.Ordinal);
        issue.Tags.RemoveAll(t => !wanted.Contains(t.Tag));
        foreach (var t in wanted.Where(w => issue.Tags.All(x => x.Tag != w)))
        {
            issue.Tags.Add(new IssueTag { Tag = t });
        }

        issue.Summary = "";
        await composer.ComposeAsync(issue, ct);
        db.ChangeTracker.DetectChanges();
        if (!db.ChangeTracker.HasChanges())
        {
            // The same text again (Send now after an autosave, a second click): the version stays, so a click that
            // comes a moment later still finds the version its page showed, and hears what happened to the first.
            return IssueEditResult.Saved;
        }

        issue.UpdatedAt = clock.GetUtcNow().UtcDateTime;
        try
        {
            await using var tx = draft.ExpectedVersion is null ? null : await db.Database.BeginTransactionAsync(ct);
            if (tx is not null
                && await db.Issues.Where(i => i.Id == id && i.UpdatedAt == loaded).ExecuteUpdateAsync(u => u.SetProperty(i => i.UpdatedAt, issue.UpdatedAt), ct) == 0)
            {
                // Another save committed between this one's read and its write (on SQLite it waited here for that
                // save's lock): the version this page showed is gone.
                db.ChangeTracker.Clear();
                return IssueEditResult.Stale;
            }

            await db.SaveChangesAsync(ct);
            if (tx is not null)
            {
                await tx.CommitAsync(ct);
            }
        }
        catch (DbUpdateException e) when (db.IsUniqueViolation(e))
        {
            // Two saves of the same new slug at once: the unique index catches the loser.
            db.ChangeTracker.Clear();
            return new IssueEditResult(IssueEditOutcome.Invalid, new Dictionary<string, string[]> { ["slug"] = [$"Another issue already uses the slug '{wantedSlug}'."] });
        }

        return wasScheduled ? IssueEditResult.SavedWhileScheduled : IssueEditResult.Saved;
    }

    /// <summary>
    /// How far ahead an issue may be scheduled. A year typed wrong (2062 for 2026) would otherwise wait silently
    /// for decades; a newsletter is planned weeks ahead, not years.
    /// </summary>
    public static readonly TimeSpan LatestSchedule = TimeSpan.FromDays(366);

    /// <summary>The refusal of a time too far ahead, or null; the past is each caller's own message.</summary>
    public static string? TooFarAhead(DateTime utc, DateTime nowUtc) =>
        utc > nowUtc + LatestSchedule ? "That is more than a year from now: check the year. An issue can be scheduled up to a year ahead." : null;

    /// <summary>
    /// Schedules the issue for <paramref name="utc"/>, or starts it now when that time has come. A draft, or an
    /// issue scheduled for a time still ahead, moves; one whose start is due or past is already on its way, so a
    /// double click, a second tab or two API clients at once start it once and the second hears so.
    /// </summary>
    public async Task<ScheduleOutcome> ScheduleAsync(int id, DateTime utc, CancellationToken ct)
    {
        var issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (issue is null)
        {
            return ScheduleOutcome.NotFound;
        }

        if (!IsReady(issue))
        {
            return ScheduleOutcome.NotReady;
        }

        // A note unpublished (or never published) after the issue was saved would go out in full, by email and on
        // the issue's public page, while its own page said 404.
        var noteIds = await db.Set<IssueNote>().Where(n => n.IssueId == id).Select(n => n.NoteId).ToListAsync(ct);
        if (NotPublished(await ChosenNotesAsync(noteIds, ct)) is { } unpublished)
        {
            UnpublishedNote = unpublished;
            return ScheduleOutcome.NoteNotPublished;
        }

        var due = clock.GetUtcNow().UtcDateTime + IssueSender.StartMargin;
        var moved = await db.Issues
            .Where(i => i.Id == id && (i.Status == IssueStatus.Draft || (i.Status == IssueStatus.Scheduled && i.ScheduledAt > due)))
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Scheduled).SetProperty(i => i.ScheduledAt, utc), ct);
        if (moved == 0)
        {
            return ScheduleOutcome.AlreadyGoing;
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

        return ScheduleOutcome.Scheduled;
    }

    /// <summary>The sentence for <see cref="ScheduleOutcome.NoteNotPublished"/>: which note, and what to do.</summary>
    public string? UnpublishedNote { get; private set; }

    private sealed record ChosenNote(string Title, bool Exists, bool Published);

    /// <summary>The notes an issue carries as they are now; an id made up or deleted for good has no row.</summary>
    private async Task<List<ChosenNote>> ChosenNotesAsync(List<int> noteIds, CancellationToken ct) =>
        noteIds.Count == 0 ? [] : await db.Notes.Where(n => noteIds.Contains(n.Id)).OrderBy(n => n.Id)
            .Select(n => new ChosenNote(n.Title, n.DeletedAt == null, n.DeletedAt == null && n.Status == NoteStatus.Published && n.Kind == NoteKind.Note))
            .ToListAsync(ct);

    /// <summary>An issue carries published notes only: it is public once sent, and a draft's text is not.</summary>
    private static string? NotPublished(List<ChosenNote> chosen)
    {
        var titles = chosen.Where(n => !n.Published).Select(n => n.Title).ToList();
        return titles.Count == 0 ? null
            : $"{string.Join(", ", titles.Select(t => $"“{t}”"))} {(titles.Count == 1 ? "is" : "are")} not published: publish {(titles.Count == 1 ? "it" : "them")} first, or take {(titles.Count == 1 ? "it" : "them")} out of the issue.";
    }

    /// <summary>A scheduled issue goes back to draft. The Hangfire job may still fire at the old time; it finds a draft and does nothing.</summary>
    public async Task<bool> UnscheduleAsync(int id, CancellationToken ct) =>
        await db.Issues.Where(i => i.Id == id && i.Status == IssueStatus.Scheduled)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Draft).SetProperty(i => i.ScheduledAt, (DateTime?)null), ct) == 1;

    /// <summary>Only a draft can be deleted; set-based, so a double click deletes once.</summary>
    public async Task<bool> DeleteDraftAsync(int id, CancellationToken ct)
    {
        var deleted = await db.Issues.Where(i => i.Id == id && i.Status == IssueStatus.Draft).ExecuteDeleteAsync(ct);
        await changes.IssuesChangedAsync(ct);
        return deleted > 0;
    }

    /// <summary>An issue can go out once it has been saved with a subject (a new draft has a placeholder slug).</summary>
    public static bool IsReady(Issue issue) => !string.IsNullOrWhiteSpace(issue.Subject) && !issue.Slug.StartsWith("draft-", StringComparison.Ordinal);
}
