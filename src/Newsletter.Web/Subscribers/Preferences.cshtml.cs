using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Subscribers;

public sealed class PreferencesModel(AppDbContext db, SubscriberTokens tokens, Subscriptions subscriptions, IBackgroundJobClient jobs, IOptions<SubscriptionOptions> options, TimeProvider clock) : PageModel
{
    public string? Token { get; private set; }

    public Subscriber? Subscriber { get; private set; }

    public IReadOnlyList<string> Topics { get; private set; } = [];

    public HashSet<string> Chosen { get; private set; } = [];

    public string? Message { get; private set; }

    public async Task<IActionResult> OnGetAsync(string? token, CancellationToken ct)
    {
        await LoadAsync(token, ct);
        return Page();
    }

    public async Task<IActionResult> OnPostSaveAsync(string? token, string? name, string[]? topics, string? pause, CancellationToken ct)
    {
        await LoadAsync(token, ct);
        if (Subscriber is null)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        var s = await db.Subscribers.Include(x => x.Tags).FirstAsync(x => x.Id == Subscriber.Id, ct);
        s.Name = Subscriptions.CleanName(name);
        var chosen = (topics ?? []).Select(Tags.Normalize).Where(Topics.Contains).ToHashSet();
        // Only the topic tags are the reader's to change; tags the author set (vip, cohort...) stay.
        s.Tags.RemoveAll(t => Topics.Contains(t.Tag) && !chosen.Contains(t.Tag));
        foreach (var t in chosen.Where(c => s.Tags.All(x => x.Tag != c)))
        {
            s.Tags.Add(new SubscriberTag { Tag = t });
        }

        var now = clock.GetUtcNow().UtcDateTime;
        if (pause == "resume")
        {
            s.PausedUntil = null;
        }
        else if (int.TryParse(pause, out var days) && days is > 0 and <= 365)
        {
            s.PausedUntil = now.AddDays(days);
        }

        // One SaveChanges, one transaction: the preferences and the history line that records them.
        subscriptions.Record(s.Id, SubscriberEventKind.PreferencesChanged, "preferences",
            $"topics: {string.Join(", ", chosen.Order())}{(s.PausedUntil > now ? $"; paused until {s.PausedUntil:yyyy-MM-dd}" : "")}");
        await db.SaveChangesAsync(ct);
        await LoadAsync(token, ct);
        Message = "Saved.";
        return Page();
    }

    public async Task<IActionResult> OnPostLinkAsync(string? email, CancellationToken ct)
    {
        if (Newsletter.Mail.EmailAddress.TryNormalize(email ?? "", out var normalized, out _))
        {
            var key = Subscriber.KeyOf(normalized);
            var id = await db.Subscribers.Where(s => s.EmailKey == key).Select(s => (long?)s.Id).FirstOrDefaultAsync(ct);
            if (id is { } found)
            {
                jobs.Enqueue<SubscriberMailJob>(j => j.SendPreferencesLinkAsync(found, CancellationToken.None));
            }
        }

        // Same answer either way, so the form can't be used to test addresses.
        Message = "If that address is on the list, a link to its preferences is on its way.";
        return Page();
    }

    private async Task LoadAsync(string? token, CancellationToken ct)
    {
        Token = token;
        if (tokens.ReadManage(token) is { } id)
        {
            Subscriber = await db.Subscribers.AsNoTracking().Include(s => s.Tags).FirstOrDefaultAsync(s => s.Id == id, ct);
        }

        Topics = options.Value.Topics.Count > 0
            ? [.. options.Value.Topics.Select(Tags.Normalize).Distinct().Order()]
            : await db.NoteTags.Where(t => db.Notes.Any(n => n.Id == t.NoteId && n.Status == NoteStatus.Published && n.DeletedAt == null))
                .Select(t => t.Tag).Distinct().OrderBy(t => t).Take(30).ToListAsync(ct);
        Chosen = Subscriber is null ? [] : [.. Subscriber.Tags.Select(t => t.Tag)];
    }
}
