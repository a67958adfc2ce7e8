using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Web.Mail;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests;

/// <summary>What one run did; the tests and the log read it.</summary>
public enum DigestRunOutcome
{
    NotFound,
    Paused,

    /// <summary>No occurrence has come since the digest was made, or too few notes for an every-N-notes digest.</summary>
    NotDue,
    NothingNew,
    Skipped,

    /// <summary>This run drafted the issue (and sent it, or told the authors).</summary>
    Drafted,

    /// <summary>The period was drafted before (a restart, another node): this run only finished what was left.</summary>
    AlreadyDrafted,
}

public sealed record DigestRunResult(DigestRunOutcome Outcome, int? IssueId = null);

/// <summary>
/// The digest's recurring job. A run works out its period (the latest calendar occurrence, or the next batch of
/// notes), and inserts the period's <see cref="DigestRun"/> row in the same transaction as the draft: the unique
/// (digest, period) index lets exactly one node or retry draft it, and the others find the row and finish what it
/// says is left: the approval email (claimed once) or the send (a conditional state change in
/// <see cref="IssueEditor.ScheduleAsync"/>, after which the sender's ledger sends each reader one copy).
/// </summary>
public sealed class DigestRunner(
    AppDbContext db,
    IssueEditor issues,
    Audit.AuditLog audit,
    DigestTemplate template,
    TransactionalMail mail,
    IOptions<SiteOptions> site,
    TimeProvider clock,
    ILogger<DigestRunner> logger)
{
    /// <summary>Tests stall here, after the notes are read and before the claim, to make two runs race for real.</summary>
    internal Func<CancellationToken, Task>? BeforeClaim { get; set; }

    /// <summary>Tests throw here, after the draft is committed and before the send or email, as a crash would.</summary>
    internal Func<Task>? AfterDraft { get; set; }

    [AutomaticRetry(Attempts = 3)]
    public Task RunAsync(int digestId, CancellationToken ct) => RunAtAsync(digestId, clock.GetUtcNow().UtcDateTime, ct);

    /// <summary>Runs as if at <paramref name="utcNow"/>: the period is the one that moment belongs to.</summary>
    public async Task<DigestRunResult> RunAtAsync(int digestId, DateTime utcNow, CancellationToken ct)
    {
        var digest = await db.Digests.AsNoTracking().FirstOrDefaultAsync(d => d.Id == digestId, ct);
        if (digest is null)
        {
            return new(DigestRunOutcome.NotFound);
        }

        if (digest.Paused)
        {
            return new(DigestRunOutcome.Paused);
        }

        var zone = site.Value.Zone;
        var occurrence = DigestCalendar.Latest(digest, utcNow + DigestCalendar.Margin, zone);
        List<Note> notes;
        string period;
        if (occurrence is { } at)
        {
            if (at < digest.CreatedAt)
            {
                return new(DigestRunOutcome.NotDue);
            }

            period = DigestCalendar.PeriodOf(at, zone);
            if (await FindRunAsync(digestId, period, ct) is { } earlier)
            {
                return await FinishAsync(digest, earlier, DigestRunOutcome.AlreadyDrafted, ct);
            }

            if (digest.SkipOccurrence == at)
            {
                return await SkipAsync(digest, period, at, ct);
            }

            notes = await NewNotesAsync(digest, ct);
            if (notes.Count == 0)
            {
                logger.LogInformation("Digest {Id}: no note is new since the last one; nothing drafted for {Period}", digestId, period);
                return new(DigestRunOutcome.NothingNew);
            }
        }
        else
        {
            notes = [.. (await NewNotesAsync(digest, ct)).Take(digest.NoteCount)];
            if (notes.Count < digest.NoteCount)
            {
                return new(DigestRunOutcome.NotDue);
            }

            // The oldest N notes not yet taken: every node reading them at once names the same period.
            period = "notes:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(string.Join(',', notes.Select(n => n.Id)))))[..40];
            if (await FindRunAsync(digestId, period, ct) is { } earlier)
            {
                return await FinishAsync(digest, earlier, DigestRunOutcome.AlreadyDrafted, ct);
            }
        }

        // Before any claim: a broken template fails the job with its file and line, and drafts nothing.
        var localDay = TimeZoneInfo.ConvertTimeFromUtc(occurrence ?? utcNow, zone);
        var markdown = template.Render(digest, notes, occurrence ?? utcNow);
        var subject = $"{digest.Name}: {localDay.ToString("d MMMM yyyy", CultureInfo.InvariantCulture)}";

        if (BeforeClaim is { } stall)
        {
            await stall(ct);
        }

        var run = new DigestRun { DigestId = digestId, Period = period, Status = DigestRunStatus.Drafted, CreatedAt = clock.GetUtcNow().UtcDateTime };
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            // The claim is the transaction's first write: a racing node waits on it here, then finds the row taken.
            db.DigestRuns.Add(run);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (db.IsUniqueViolation(e))
            {
                await tx.RollbackAsync(ct);
                db.ChangeTracker.Clear();
                logger.LogInformation("Digest {Id}: {Period} was drafted by another run at the same time", digestId, period);
                var winner = await FindRunAsync(digestId, period, ct) ?? throw new InvalidOperationException($"Digest {digestId}: the run for {period} was refused as a duplicate but is not there.");
                return await FinishAsync(digest, winner, DigestRunOutcome.AlreadyDrafted, ct);
            }

            var issue = await issues.CreateAsync(ct);
            var slug = await SlugAsync(digest, localDay, run.Id, ct);
            var tags = digest.Topic is null ? Array.Empty<string>() : [digest.Topic];
            var saved = await issues.SaveAsync(issue.Id, new IssueDraft(subject, null, slug, markdown, null, tags, null, IssueChannel.Both), ct);
            if (saved.Outcome != IssueEditOutcome.Saved)
            {
                // The transaction rolls back: no claim, no half-made draft; the job fails and says why.
                throw new InvalidOperationException($"Digest {digestId}: the issue for {period} could not be drafted: "
                    + string.Join("; ", saved.Errors.Select(e => $"{e.Key}: {string.Join(' ', e.Value)}")));
            }

            run.IssueId = issue.Id;
            run.Notes = [.. notes.Select(n => new DigestRunNote { DigestId = digestId, NoteId = n.Id })];
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        logger.LogInformation("Digest {Id}: drafted issue {IssueId} for {Period} with {Count} notes", digestId, run.IssueId, period, notes.Count);
        if (AfterDraft is { } crash)
        {
            await crash();
        }

        return await FinishAsync(digest, run, DigestRunOutcome.Drafted, ct);
    }

    /// <summary>
    /// Published notes of the digest's topic that it has not taken yet and that are not older than the digest
    /// (a new digest starts from today, not from the whole archive), oldest first.
    /// </summary>
    public async Task<List<Note>> NewNotesAsync(Digest digest, CancellationToken ct)
    {
        var since = digest.CreatedAt.Date;
        // A note written after the digest but dated the day before (the author's zone is behind UTC's date) is new;
        // one dated earlier is not, even when it arrived later: posts brought from another platform are the
        // archive, and a digest that sends itself mailed each of them to every reader.
        var dayBefore = since.AddDays(-1);
        var query = db.Notes.AsNoTracking().Include(n => n.Tags)
            .Where(n => n.Status == NoteStatus.Published && n.DeletedAt == null && n.Kind == NoteKind.Note)
            .Where(n => n.Date >= since || (n.CreatedAt >= digest.CreatedAt && n.Date >= dayBefore))
            .Where(n => !db.DigestRunNotes.Any(r => r.DigestId == digest.Id && r.NoteId == n.Id));
        if (digest.Topic is { } topic)
        {
            query = query.Where(n => n.Tags.Any(t => t.Tag == topic));
        }

        return await query.OrderBy(n => n.Date).ThenBy(n => n.Id).Take(500).ToListAsync(ct);
    }

    private Task<DigestRun?> FindRunAsync(int digestId, string period, CancellationToken ct) =>
        db.DigestRuns.AsNoTracking().FirstOrDefaultAsync(r => r.DigestId == digestId && r.Period == period, ct);

    private async Task<DigestRunResult> SkipAsync(Digest digest, string period, DateTime occurrence, CancellationToken ct)
    {
        db.DigestRuns.Add(new DigestRun { DigestId = digest.Id, Period = period, Status = DigestRunStatus.Skipped, CreatedAt = clock.GetUtcNow().UtcDateTime });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (db.IsUniqueViolation(e))
        {
            db.ChangeTracker.Clear();
        }

        await db.Digests.Where(d => d.Id == digest.Id && d.SkipOccurrence == occurrence).ExecuteUpdateAsync(u => u.SetProperty(d => d.SkipOccurrence, (DateTime?)null), ct);
        logger.LogInformation("Digest {Id}: {Period} skipped by the author; its notes wait for the next", digest.Id, period);
        return new(DigestRunOutcome.Skipped);
    }

    /// <summary>What is left after the draft, done at most once however many runs get here.</summary>
    private async Task<DigestRunResult> FinishAsync(Digest digest, DigestRun run, DigestRunOutcome outcome, CancellationToken ct)
    {
        if (run.Status == DigestRunStatus.Skipped)
        {
            return new(DigestRunOutcome.Skipped);
        }

        if (run.IssueId is not { } issueId)
        {
            return new(outcome);
        }

        if (digest.Mode == DigestMode.SendItself)
        {
            if (run.Status == DigestRunStatus.Drafted)
            {
                // Only a draft moves: an issue already scheduled or going answers AlreadyGoing, and is sent once.
                var scheduled = await issues.ScheduleAsync(issueId, clock.GetUtcNow().UtcDateTime, ct);
                logger.LogInformation("Digest {Id}: issue {IssueId} handed to the sender ({Outcome})", digest.Id, issueId, scheduled);
                if (scheduled == ScheduleOutcome.Scheduled)
                {
                    // Who sent it: the standing order, which the audit log shows being set up and by whom.
                    var subject = await db.Issues.AsNoTracking().Where(i => i.Id == issueId).Select(i => i.Subject).FirstOrDefaultAsync(ct);
                    await audit.RecordByAppAsync($"the digest “{digest.Name}”, which sends itself", Audit.AuditActions.IssueSend,
                        "issue", issueId.ToString(CultureInfo.InvariantCulture), $"“{subject}” sent by the digest", ct);
                }

                await db.DigestRuns.Where(r => r.Id == run.Id && r.Status == DigestRunStatus.Drafted)
                    .ExecuteUpdateAsync(u => u.SetProperty(r => r.Status, DigestRunStatus.Scheduled), ct);
            }

            return new(outcome, issueId);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var claimed = await db.DigestRuns.Where(r => r.Id == run.Id && r.NotifiedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(r => r.NotifiedAt, now).SetProperty(r => r.Status, DigestRunStatus.Notified), ct) == 1;
        if (claimed)
        {
            try
            {
                await NotifyAuthorsAsync(digest, issueId, ct);
            }
            catch
            {
                // Given back, so the job's retry tells them: a notice lost without a trace is worse than a late one.
                await db.DigestRuns.Where(r => r.Id == run.Id)
                    .ExecuteUpdateAsync(u => u.SetProperty(r => r.NotifiedAt, (DateTime?)null).SetProperty(r => r.Status, DigestRunStatus.Drafted), CancellationToken.None);
                throw;
            }
        }

        return new(outcome, issueId);
    }

    /// <summary>Everyone who may send the issue (owners and editors, not suspended) hears that it is ready.</summary>
    private async Task NotifyAuthorsAsync(Digest digest, int issueId, CancellationToken ct)
    {
        var issue = await db.Issues.AsNoTracking().Where(i => i.Id == issueId).Select(i => new { i.Subject }).FirstOrDefaultAsync(ct);
        if (issue is null)
        {
            return;
        }

        var count = await db.DigestRunNotes.CountAsync(n => db.DigestRuns.Any(r => r.Id == n.RunId && r.IssueId == issueId), ct);
        var authors = await db.Users.AsNoTracking()
            .Where(u => u.SuspendedAt == null && u.Email != null && (u.Role == AuthorRole.Owner || u.Role == AuthorRole.Editor))
            .Select(u => new { u.Email, u.DisplayName }).ToListAsync(ct);
        if (authors.Count == 0)
        {
            logger.LogWarning("Digest {Id}: issue {IssueId} is drafted but no owner or editor can be told", digest.Id, issueId);
        }

        foreach (var author in authors)
        {
            await mail.SendToAuthorAsync("digest-ready", author.Email!, author.DisplayName, new Dictionary<string, object?>
            {
                ["name"] = author.DisplayName,
                ["digest_name"] = digest.Name,
                ["issue_subject"] = issue.Subject,
                ["note_count"] = count,
                ["review_url"] = site.Value.Absolute($"/admin/issues/{issueId}"),
            }, ct);
        }
    }

    private async Task<string> SlugAsync(Digest digest, DateTime localDay, long runId, CancellationToken ct)
    {
        var name = NoteFile.Slugify(digest.Name);
        name = name.Length == 0 ? "digest" : name.Length > 80 ? name[..80].TrimEnd('-') : name;
        var slug = $"{name}-{localDay:yyyy-MM-dd}";
        return await db.Issues.AnyAsync(i => i.Slug == slug, ct) ? $"{slug}-{runId}" : slug;
    }
}
