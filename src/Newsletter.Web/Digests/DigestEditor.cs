using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests;

/// <summary>What the author fills in on the digest form.</summary>
public sealed class DigestInput
{
    public string? Name { get; set; }

    public string? Topic { get; set; }

    public string? Intro { get; set; }

    public DigestCadence Cadence { get; set; }

    public DayOfWeek Weekday { get; set; } = DayOfWeek.Monday;

    public int DayOfMonth { get; set; } = 1;

    public int Hour { get; set; } = 9;

    public int NoteCount { get; set; } = 5;

    public bool FullText { get; set; }

    public DigestMode Mode { get; set; }

    public static DigestInput From(Digest d) => new()
    {
        Name = d.Name,
        Topic = d.Topic,
        Intro = d.Intro,
        Cadence = d.Cadence,
        Weekday = d.Weekday,
        DayOfMonth = d.DayOfMonth,
        Hour = d.Hour,
        NoteCount = d.NoteCount,
        FullText = d.FullText,
        Mode = d.Mode,
    };
}

/// <summary>A save's outcome: the digest, or each refused field (keyed by <see cref="DigestInput"/>'s property names) and why.</summary>
public sealed record DigestEditResult(Digest? Digest, IReadOnlyDictionary<string, string> Errors)
{
    public bool Saved => Digest is not null;
}

/// <summary>
/// Every change to a digest, and its Hangfire recurring job with it: one per digest, under a stable id, replaced
/// when the digest changes and removed when it goes. The table is the truth: <see cref="DigestSchedules"/>
/// re-creates the jobs from it at start-up.
/// </summary>
public sealed class DigestEditor(AppDbContext db, IRecurringJobManager recurring, IOptions<SiteOptions> site, TimeProvider clock)
{
    public async Task<DigestEditResult> SaveAsync(int? id, DigestInput input, CancellationToken ct)
    {
        Digest digest;
        if (id is { } existing)
        {
            var found = await db.Digests.FirstOrDefaultAsync(d => d.Id == existing, ct);
            if (found is null)
            {
                return new DigestEditResult(null, new Dictionary<string, string> { [""] = "That digest no longer exists." });
            }

            digest = found;
        }
        else
        {
            digest = new Digest { CreatedAt = clock.GetUtcNow().UtcDateTime };
        }

        var errors = new Dictionary<string, string>();
        var name = (input.Name ?? "").Trim();
        // The name becomes the subject, a mail header: a line break there is header injection.
        if (name.Length == 0 || name.Any(Infrastructure.OneLine.IsBreak))
        {
            errors[nameof(DigestInput.Name)] = "Give the digest a name on one line.";
        }
        else if (name.Length > 200)
        {
            errors[nameof(DigestInput.Name)] = "A name can be at most 200 characters.";
        }

        var topic = string.IsNullOrWhiteSpace(input.Topic) ? null : Notes.Tags.Normalize(input.Topic);
        if (topic is { Length: 0 })
        {
            errors[nameof(DigestInput.Topic)] = "The topic holds no letters or digits.";
        }

        if ((input.Intro?.Length ?? 0) > 10_000)
        {
            errors[nameof(DigestInput.Intro)] = "The introduction can be at most 10,000 characters.";
        }

        if (!Enum.IsDefined(input.Cadence) || !Enum.IsDefined(input.Mode) || !Enum.IsDefined(input.Weekday))
        {
            errors[nameof(DigestInput.Cadence)] = "Choose how often the digest goes out.";
        }

        if (input.Hour is < 0 or > 23)
        {
            errors[nameof(DigestInput.Hour)] = "The hour is between 0 and 23.";
        }

        if (input.DayOfMonth is < 1 or > 28)
        {
            errors[nameof(DigestInput.DayOfMonth)] = "The day is between 1 and 28, so every month has it.";
        }

        if (input.NoteCount is < 1 or > 100)
        {
            errors[nameof(DigestInput.NoteCount)] = "The number of notes is between 1 and 100.";
        }

        if (errors.Count > 0)
        {
            return new DigestEditResult(null, errors);
        }

        var whenChanged = digest.Cadence != input.Cadence || digest.Weekday != input.Weekday || digest.DayOfMonth != input.DayOfMonth || digest.Hour != input.Hour;
        digest.Name = name;
        digest.Topic = topic;
        digest.Intro = input.Intro ?? "";
        digest.Cadence = input.Cadence;
        digest.Weekday = input.Weekday;
        digest.DayOfMonth = input.DayOfMonth;
        digest.Hour = input.Hour;
        digest.NoteCount = input.NoteCount;
        digest.FullText = input.FullText;
        digest.Mode = input.Mode;
        digest.UpdatedAt = clock.GetUtcNow().UtcDateTime;
        if (whenChanged)
        {
            // A skip names one occurrence of the old calendar; it means nothing on the new one.
            digest.SkipOccurrence = null;
        }

        if (id is null)
        {
            db.Digests.Add(digest);
        }

        await db.SaveChangesAsync(ct);
        Register(digest);
        return new DigestEditResult(digest, new Dictionary<string, string>());
    }

    public async Task<bool> DeleteAsync(int id, CancellationToken ct)
    {
        var deleted = await db.Digests.Where(d => d.Id == id).ExecuteDeleteAsync(ct) > 0;
        recurring.RemoveIfExists(Digest.RecurringJobIdOf(id));
        return deleted;
    }

    /// <summary>A paused digest keeps its job, which finds it paused and does nothing: the table decides.</summary>
    public async Task<bool> SetPausedAsync(int id, bool paused, CancellationToken ct) =>
        await db.Digests.Where(d => d.Id == id && d.Paused != paused)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Paused, paused).SetProperty(d => d.UpdatedAt, clock.GetUtcNow().UtcDateTime), ct) == 1;

    /// <summary>Skips the next calendar occurrence; its notes wait for the one after. Null when there is none to skip.</summary>
    public async Task<DateTime?> SkipNextAsync(int id, CancellationToken ct)
    {
        var digest = await db.Digests.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id, ct);
        if (digest is null || NextRun(digest) is not { } next)
        {
            return null;
        }

        await db.Digests.Where(d => d.Id == id).ExecuteUpdateAsync(u => u.SetProperty(d => d.SkipOccurrence, next), ct);
        return next;
    }

    public async Task<bool> UnskipAsync(int id, CancellationToken ct) =>
        await db.Digests.Where(d => d.Id == id && d.SkipOccurrence != null).ExecuteUpdateAsync(u => u.SetProperty(d => d.SkipOccurrence, (DateTime?)null), ct) == 1;

    /// <summary>The next calendar occurrence (UTC) from now; null for an every-N-notes digest.</summary>
    public DateTime? NextRun(Digest digest) => DigestCalendar.Next(digest, clock.GetUtcNow().UtcDateTime, site.Value.Zone);

    /// <summary>
    /// The tags on published notes, most used first: what a topic can name and still find notes. A topic is free
    /// text (a digest may wait for a tag not used yet), so the form offers these and the pages say when a topic
    /// has no note, instead of a digest that silently never runs because of a typo.
    /// </summary>
    public async Task<IReadOnlyList<string>> TopicsInUseAsync(CancellationToken ct) =>
        await db.NoteTags.AsNoTracking()
            .Where(t => db.Notes.Any(n => n.Id == t.NoteId && n.Status == NoteStatus.Published && n.DeletedAt == null && n.Kind == NoteKind.Note))
            .GroupBy(t => t.Tag).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Select(g => g.Key).Take(200).ToListAsync(ct);

    /// <summary>Why a digest's topic finds nothing, when no published note carries it; null when some does (or it takes every note).</summary>
    public async Task<string?> TopicWarningAsync(string? topic, CancellationToken ct)
    {
        if (topic is null)
        {
            return null;
        }

        var inUse = await TopicsInUseAsync(ct);
        if (!IsUnused(topic, inUse))
        {
            return null;
        }

        return $"No published note is tagged “{topic}” yet, so this digest drafts nothing until one is."
            + (inUse.Count == 0 ? "" : $" Tags in use: {Sample(inUse)}.");
    }

    /// <summary>Whether a digest's topic names no tag in <paramref name="inUse"/> (<see cref="TopicsInUseAsync"/>); an all-notes digest never does.</summary>
    public static bool IsUnused(string? topic, IReadOnlyList<string> inUse) => topic is not null && !inUse.Contains(topic, StringComparer.Ordinal);

    /// <summary>The most used tags to show in a sentence, and how many more there are.</summary>
    public static string Sample(IReadOnlyList<string> inUse) =>
        string.Join(", ", inUse.Take(12)) + (inUse.Count > 12 ? $" and {inUse.Count - 12} more" : "");

    /// <summary>Adds or replaces the digest's recurring job, read in the author's zone.</summary>
    public void Register(Digest digest) => Registration(digest)();

    /// <summary>What <see cref="Register"/> does, to be done now or tried again later (<see cref="Jobs.RecurringAtStart"/>).</summary>
    public Action Registration(Digest digest)
    {
        var (recurringJobs, zone) = (recurring, site.Value.Zone);
        return () => recurringJobs.AddOrUpdate<DigestRunner>(digest.RecurringJobId, r => r.RunAsync(digest.Id, CancellationToken.None), DigestCalendar.Cron(digest),
            new RecurringJobOptions { TimeZone = zone });
    }
}
