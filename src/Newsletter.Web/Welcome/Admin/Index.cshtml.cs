using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Admin;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Welcome.Admin;

/// <summary>The welcome series: its steps in order, what each did, and the switches. Sending to readers: the send role.</summary>
[Authorize(Policy = AuthorPolicies.Send)]
public sealed class IndexModel(AppDbContext db, WelcomeSeries series, WelcomeSender sender, MarkdownRenderer markdown, TimeProvider clock) : PageModel
{
    public const int MaxMarkdown = 100_000;

    public IReadOnlyList<WelcomeStep> Steps { get; private set; } = [];

    public IReadOnlyDictionary<int, StepCounts> Counts { get; private set; } = new Dictionary<int, StepCounts>();

    public bool Paused { get; private set; }

    public int Readers { get; private set; }

    public IReadOnlyList<string> NoteSlugs { get; private set; } = [];

    /// <summary>The step being edited, or null for a new one.</summary>
    public WelcomeStep? Editing { get; private set; }

    [TempData]
    public string? Message { get; set; }

    /// <summary>Why a save was refused, shown with the form as it was posted (<see cref="Posted"/>).</summary>
    public string? Refusal { get; private set; }

    /// <summary>What the author typed into a save that was refused: the form shows it again instead of losing it.</summary>
    public WelcomeStep? Posted { get; private set; }

    public async Task OnGetAsync(int? edit, CancellationToken ct)
    {
        await LoadAsync(ct);
        Editing = edit is { } id ? Steps.FirstOrDefault(s => s.Id == id) : null;
    }

    public async Task<IActionResult> OnPostSaveAsync(int? id, string? kind, string? noteSlug, string? subject, string? body, int delayDays, int? before, CancellationToken ct)
    {
        // One line: a CR or LF in a subject would start a new header.
        var cleanSubject = string.Join(' ', (subject ?? "").Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        if (cleanSubject.Length > 300)
        {
            cleanSubject = cleanSubject[..300];
        }

        var isNote = kind == "note";
        async Task<IActionResult> RefusedAsync(string why)
        {
            await LoadAsync(ct);
            Editing = id is { } editId ? Steps.FirstOrDefault(s => s.Id == editId) : null;
            Posted = new WelcomeStep { Id = id ?? 0, NoteSlug = isNote ? noteSlug ?? "" : null, Subject = subject ?? "", Markdown = body ?? "", DelayDays = delayDays };
            Refusal = why;
            return Page();
        }

        var slug = (noteSlug ?? "").Trim();
        if (delayDays is < 0 or > 365)
        {
            return await RefusedAsync("The delay is between 0 and 365 days.");
        }

        if (isNote && !await db.Notes.AnyAsync(n => n.Slug == slug && n.Status == NoteStatus.Published && n.DeletedAt == null, ct))
        {
            return await RefusedAsync($"No published note has the slug '{slug}'.");
        }

        if (!isNote && (cleanSubject.Length == 0 || string.IsNullOrWhiteSpace(body)))
        {
            return await RefusedAsync("A written email needs a subject and a body.");
        }

        if ((body ?? "").Length > MaxMarkdown)
        {
            return await RefusedAsync($"The body is longer than {MaxMarkdown:N0} characters.");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var step = id is { } existing ? await db.Set<WelcomeStep>().FirstOrDefaultAsync(s => s.Id == existing && s.RemovedAt == null, ct) : null;
        if (id is not null && step is null)
        {
            return Done("That step is gone.");
        }

        if (step is null)
        {
            step = new WelcomeStep();
            var live = db.Set<WelcomeStep>().Where(s => s.RemovedAt == null);
            var at = before is { } b ? await live.Where(s => s.Id == b).Select(s => (int?)s.Position).FirstOrDefaultAsync(ct) : null;
            if (at is { } position)
            {
                // Make room: the steps from there on move one down.
                await db.Set<WelcomeStep>().Where(s => s.Position >= position).ExecuteUpdateAsync(u => u.SetProperty(s => s.Position, s => s.Position + 1), ct);
                step.Position = position;
            }
            else
            {
                step.Position = (await db.Set<WelcomeStep>().MaxAsync(s => (int?)s.Position, ct) ?? 0) + 1;
            }

            db.Set<WelcomeStep>().Add(step);
        }

        step.NoteSlug = isNote ? slug : null;
        step.Subject = cleanSubject;
        step.Markdown = isNote ? "" : body!;
        step.Html = isNote ? "" : markdown.Render(body!).Html;
        step.DelayDays = delayDays;
        step.UpdatedAt = now;
        await db.SaveChangesAsync(ct);
        return Done(id is null ? "Step added." : "Step saved. Readers who have not reached it get the new version.");
    }

    public async Task<IActionResult> OnPostMoveAsync(int id, int by, CancellationToken ct)
    {
        var steps = await db.Set<WelcomeStep>().Where(s => s.RemovedAt == null).OrderBy(s => s.Position).ThenBy(s => s.Id).ToListAsync(ct);
        var i = steps.FindIndex(s => s.Id == id);
        var j = i + Math.Sign(by);
        if (i < 0 || j < 0 || j >= steps.Count)
        {
            return Done("That step cannot move further.");
        }

        (steps[i].Position, steps[j].Position) = (steps[j].Position, steps[i].Position);
        if (steps[i].Position == steps[j].Position)
        {
            steps[by > 0 ? i : j].Position++;
        }

        await db.SaveChangesAsync(ct);
        return Done("Moved.");
    }

    public async Task<IActionResult> OnPostRemoveAsync(int id, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await db.Set<WelcomeStep>().Where(s => s.Id == id && s.RemovedAt == null).ExecuteUpdateAsync(u => u.SetProperty(s => s.RemovedAt, now), ct);
        return Done("Step removed. Who got it stays in the ledger; nobody gets it from now on.");
    }

    public async Task<IActionResult> OnPostPauseAsync(CancellationToken ct)
    {
        await series.SetPausedAsync(true, ct);
        return Done("The welcome series is paused: nothing is sent until you resume.");
    }

    public async Task<IActionResult> OnPostResumeAsync(CancellationToken ct)
    {
        await series.SetPausedAsync(false, ct);
        return Done("The welcome series is running again; what waited goes out within a minute.");
    }

    public async Task<IActionResult> OnPostResendHeldAsync(CancellationToken ct)
    {
        var count = await sender.ResendHeldAsync(ct);
        return Done($"{count} held {(count == 1 ? "copy is" : "copies are")} sent again.");
    }

    private RedirectToPageResult Done(string message)
    {
        Message = message;
        return RedirectToPage();
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        Steps = await db.Set<WelcomeStep>().AsNoTracking().Where(s => s.RemovedAt == null).OrderBy(s => s.Position).ThenBy(s => s.Id).ToListAsync(ct);
        Counts = await series.CountsAsync(ct);
        Paused = await series.IsPausedAsync(ct);
        Readers = await db.Set<WelcomeReader>().CountAsync(r => r.LeftAtMs == null, ct);
        NoteSlugs = await db.Notes.AsNoTracking().Where(n => n.Status == NoteStatus.Published && n.DeletedAt == null && n.Kind == NoteKind.Note)
            .OrderByDescending(n => n.Date).Select(n => n.Slug).Take(200).ToListAsync(ct);
    }
}
