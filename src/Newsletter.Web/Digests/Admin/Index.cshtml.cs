using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests.Admin;

/// <summary>Each digest with its next run, what it last did, and pause, skip and delete.</summary>
public sealed class IndexModel(AppDbContext db, DigestEditor editor, DigestRunner runner, IOptions<SiteOptions> site) : PageModel
{
    private const string MessageKey = "Digests.Message";

    public sealed record Row(Digest Digest, string Cadence, string NextRun, bool Skipping, DigestRun? LastRun, int Waiting);

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
        var rows = new List<Row>();
        foreach (var d in digests)
        {
            var waiting = (await runner.NewNotesAsync(d, ct)).Count;
            var next = editor.NextRun(d);
            var skipping = next is not null && d.SkipOccurrence == next;
            rows.Add(new Row(d, Describe(d), NextRunText(d, next, skipping, waiting), skipping, runs.FirstOrDefault(r => r.DigestId == d.Id), waiting));
        }

        Rows = rows;
    }

    public async Task<IActionResult> OnPostPauseAsync(int id, CancellationToken ct) =>
        Done(await editor.SetPausedAsync(id, true, ct) ? "Paused: it drafts nothing until you resume it." : "It was already paused.");

    public async Task<IActionResult> OnPostResumeAsync(int id, CancellationToken ct) =>
        Done(await editor.SetPausedAsync(id, false, ct) ? "Resumed." : "It was not paused.");

    public async Task<IActionResult> OnPostSkipAsync(int id, CancellationToken ct) =>
        Done(await editor.SkipNextAsync(id, ct) is { } skipped ? $"The run of {Local(skipped)} will be skipped; its notes wait for the next one." : "There is no calendar run to skip.");

    public async Task<IActionResult> OnPostUnskipAsync(int id, CancellationToken ct) =>
        Done(await editor.UnskipAsync(id, ct) ? "The next run will happen after all." : "No run was being skipped.");

    public async Task<IActionResult> OnPostDeleteAsync(int id, CancellationToken ct) =>
        Done(await editor.DeleteAsync(id, ct) ? "Digest deleted. The issues it drafted stay." : "That digest was already gone.");

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
            _ => $"Every {d.NoteCount} notes",
        };
        return when + (d.Mode == DigestMode.SendItself ? ", sends itself" : ", waits for approval");
    }

    private RedirectToPageResult Done(string message)
    {
        TempData[MessageKey] = message;
        return RedirectToPage();
    }
}
