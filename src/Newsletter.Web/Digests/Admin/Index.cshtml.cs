using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests.Admin;

/// <summary>Each digest with its next run, what it last did, and pause, skip and delete.</summary>
public sealed class IndexModel(AppDbContext db, DigestEditor editor, DigestRunner runner, AuditLog audit, IOptions<SiteOptions> site) : PageModel
{
    private const string MessageKey = "Digests.Message";

    public sealed record Row(Digest Digest, string Cadence, string NextRun, bool Skipping, DigestRun? LastRun, int Waiting, bool TopicUnused);

    public IReadOnlyList<Row> Rows { get; private set; } = [];

    public string? Message { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        Message = TempData[MessageKey] as string;
        TempData.Remove(MessageKey);
        var digests = await db.Digests.AsNoTracking().OrderBy(d => d.Name).ToListAsync(ct);
        var ids = digests.Select(d => d.Id).ToList();
        var runs = await db.DigestRuns.AsNoTracking().Where(r => ids.Contains(r.DigestId)).GroupBy(r => r.DigestId)
            .Select(g => g.OrderByDescending(r => r.Id).First()).ToListAsync(ct);
        var inUse = await editor.TopicsInUseAsync(ct);
        var rows = new List<Row>();
        foreach (var d in digests)
        {
            var waiting = (await runner.NewNotesAsync(d, ct)).Count;
            var next = editor.NextRun(d);
            var skipping = next is not null && d.SkipOccurrence == next;
            rows.Add(new Row(d, Describe(d), NextRunText(d, next, skipping, waiting), skipping, runs.FirstOrDefault(r => r.DigestId == d.Id), waiting,
                DigestEditor.IsUnused(d.Topic, inUse)));
        }

        Rows = rows;
    }

    public Task<IActionResult> OnPostPauseAsync(int id, CancellationToken ct) =>
        ChangeAsync(id, "paused", async () => await editor.SetPausedAsync(id, true, ct) ? "Paused: it drafts nothing until you resume it." : "It was already paused.", ct);

    public Task<IActionResult> OnPostResumeAsync(int id, CancellationToken ct) =>
        ChangeAsync(id, "resumed", async () => await editor.SetPausedAsync(id, false, ct) ? "Resumed." : "It was not paused.", ct);

    public Task<IActionResult> OnPostSkipAsync(int id, CancellationToken ct) =>
        ChangeAsync(id, "next run skipped", async () => await editor.SkipNextAsync(id, ct) is { } skipped ? $"The run of {Local(skipped)} will be skipped; its notes wait for the next one." : "There is no calendar run to skip.", ct);

    public Task<IActionResult> OnPostUnskipAsync(int id, CancellationToken ct) =>
        ChangeAsync(id, "next run no longer skipped", async () => await editor.UnskipAsync(id, ct) ? "The next run will happen after all." : "No run was being skipped.", ct);

    public Task<IActionResult> OnPostDeleteAsync(int id, CancellationToken ct) =>
        ChangeAsync(id, "deleted", async () => await editor.DeleteAsync(id, ct) ? "Digest deleted. The issues it drafted stay." : "That digest was already gone.", ct);

    /// <summary>May this author change the digest: one that sends itself is a sender's, as it is on the edit page.</summary>
    public bool MayChange(Digest d) => User.May(AuthorPolicies.Write) && (d.Mode != DigestMode.SendItself || User.May(AuthorPolicies.Send));

    private async Task<IActionResult> ChangeAsync(int id, string what, Func<Task<string>> change, CancellationToken ct)
    {
        var digest = await db.Digests.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id, ct);
        if (digest is not null && !MayChange(digest))
        {
            return StatusCode(StatusCodes.Status403Forbidden);
        }

        var message = await change();
        if (digest is { Mode: DigestMode.SendItself })
        {
            await audit.RecordAsync(User, AuditActions.DigestChange, "digest", id.ToString(CultureInfo.InvariantCulture), $"“{digest.Name}” {what}", ct);
        }

        return Done(message);
    }

    public string Local(DateTime utc) =>
        site.Value.ToLocal(utc).ToString("ddd d MMM yyyy, HH:mm", CultureInfo.InvariantCulture) + " " + site.Value.TimeZone;

    private string NextRunText(Digest d, DateTime? next, bool skipping, int waiting)
    {
        if (d.Paused)
        {
            return "Paused";
        }

        if (next is not { } at)
        {
            return $"When {d.NoteCount} new notes are published ({waiting} so far)";
        }

        if (skipping && DigestCalendar.Next(d, at, site.Value.Zone) is { } after)
        {
            return $"{Local(at)} is skipped; then {Local(after)}";
        }

        return Local(at);
    }

    public static string Describe(Digest d)
    {
        var hour = $"{d.Hour:D2}:00";
        var when = d.Cadence switch
        {
            DigestCadence.Weekly => $"Every {d.Weekday} at {hour}",
            DigestCadence.Monthly => $"Monthly on day {d.DayOfMonth} at {hour}",
            _ => d.NoteCount == 1 ? "After every note" : $"Every {d.NoteCount} notes",
        };
        return when + (d.Mode == DigestMode.SendItself ? ", sends itself" : ", waits for approval");
    }

    private RedirectToPageResult Done(string message)
    {
        TempData[MessageKey] = message;
        return RedirectToPage();
    }
}
