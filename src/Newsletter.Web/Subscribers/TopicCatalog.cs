using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// The topics readers may choose, on the preferences page and the subscribe form: Subscriptions:Topics when it
/// is set, otherwise the tags of published notes. A reader's chosen topics are their tags (SubscriberTags).
/// </summary>
public sealed class TopicCatalog(AppDbContext db, IOptions<SubscriptionOptions> options)
{
    /// <summary>The most topics offered when they come from notes' tags.</summary>
    public const int MaxFromNotes = 30;

    public async Task<IReadOnlyList<string>> OfferedAsync(CancellationToken ct) =>
        options.Value.Topics.Count > 0
            ? [.. options.Value.Topics.Select(Tags.Normalize).Where(t => t.Length > 0).Distinct().Order(StringComparer.Ordinal)]
            : await db.NoteTags.Where(t => db.Notes.Any(n => n.Id == t.NoteId && n.Status == NoteStatus.Published && n.DeletedAt == null))
                .Select(t => t.Tag).Distinct().OrderBy(t => t).Take(MaxFromNotes).ToListAsync(ct);

    /// <summary>
    /// The topics the subscribe form offers: only those the author listed in Subscriptions:Topics, so a site whose
    /// author never chose any keeps its one-field form (notes' tags are too many and too passing for a sign-up).
    /// </summary>
    public IReadOnlyList<string> OnSignUp =>
        [.. options.Value.Topics.Select(Tags.Normalize).Where(t => t.Length > 0).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>What a visitor ticked on the subscribe form, kept only where it names a topic the form offers.</summary>
    public IReadOnlyList<string> ChosenOnSignUp(IEnumerable<string?>? values) => Keep(values, OnSignUp);

    /// <summary>What a reader ticked on the preferences page, kept only where it names an offered topic: anything else is dropped, not stored.</summary>
    public async Task<IReadOnlyList<string>> ChosenAsync(IEnumerable<string?>? values, CancellationToken ct)
    {
        var wanted = Wanted(values);
        return wanted.Count == 0 ? [] : Keep(wanted, await OfferedAsync(ct));
    }

    private static List<string> Keep(IEnumerable<string?>? values, IReadOnlyList<string> offered)
    {
        var wanted = Wanted(values);
        return [.. offered.Where(wanted.Contains)];
    }

    private static HashSet<string> Wanted(IEnumerable<string?>? values) =>
        // Bounded before any work: a form with ten thousand "topics" fields is cut, not normalised in full.
        (values ?? []).Take(200).Where(v => v is { Length: <= 200 }).Select(v => Tags.Normalize(v!)).Where(t => t.Length > 0).ToHashSet(StringComparer.Ordinal);
}
