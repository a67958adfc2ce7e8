using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Segments;

/// <summary>A segment as a form or an API client sends it: every field a string, so a wrong one is named, not a 400 from a binder.</summary>
public sealed record SegmentInput(IReadOnlyList<string>? Topics, string? Match, string? JoinedFrom, string? JoinedBefore, string? GotIssue, string? MissedIssue)
{
    public static SegmentInput Of(Segment s) => new(s.Topics, s.Match == TopicMatch.All ? "all" : "any",
        s.JoinedFrom?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), s.JoinedBefore?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        s.GotIssue?.ToString(CultureInfo.InvariantCulture), s.MissedIssue?.ToString(CultureInfo.InvariantCulture));
}

/// <summary>A checked segment, or what is wrong with the input, field by field.</summary>
public sealed record SegmentCheck(Segment? Segment, IReadOnlyDictionary<string, string[]> Errors)
{
    public bool IsValid => Segment is not null;
}

/// <summary>An earlier issue a segment can name ("got" / "did not get"): one that went out by email.</summary>
public sealed record SentIssue(int Id, int Number, string Subject);

/// <summary>Checks segments and counts the readers they reach now, with the same SQL the send's snapshot runs.</summary>
public sealed class Audiences(AppDbContext db, TopicCatalog topics, IOptions<SiteOptions> site, TimeProvider clock)
{
    /// <summary>The most topics one segment may name.</summary>
    public const int MaxTopics = 20;

    /// <summary>Readers a send of an issue with <paramref name="issueTags"/> to <paramref name="segment"/> would reach now.</summary>
    public async Task<int> CountAsync(Segment segment, IReadOnlyCollection<string> issueTags, CancellationToken ct)
    {
        var values = new List<object>();
        var where = AudienceSql.Where(segment, null, issueTags, clock.GetUtcNow().UtcDateTime, site.Value.Zone, values);
        // Only AudienceSql's constant fragments are in the text; every value is one of its parameters.
        var count = $"""SELECT CAST(COUNT(*) AS INTEGER) AS "Value" FROM "Subscribers" AS s WHERE {where}""";
        return await db.Database.SqlQueryRaw<int>(count, [.. values]).SingleAsync(ct);
    }

    /// <summary>The same count for a saved issue, with its saved tags.</summary>
    public async Task<int> CountAsync(int issueId, CancellationToken ct)
    {
        var segment = await db.Issues.Where(i => i.Id == issueId).Select(i => i.Segment).FirstOrDefaultAsync(ct) ?? Segment.Everyone;
        var tags = await db.IssueTags.Where(t => t.IssueId == issueId).Select(t => t.Tag).ToListAsync(ct);
        return await CountAsync(segment, tags, ct);
    }

    /// <summary>Topics a segment may name: those offered to readers and every tag some reader has.</summary>
    public async Task<IReadOnlyList<string>> KnownTopicsAsync(CancellationToken ct)
    {
        var offered = await topics.OfferedAsync(ct);
        var tagged = await db.SubscriberTags.Select(t => t.Tag).Distinct().OrderBy(t => t).Take(500).ToListAsync(ct);
        return [.. offered.Union(tagged).Distinct().Order(StringComparer.Ordinal)];
    }

    /// <summary>Issues that went out by email, newest first, which a segment may name (never <paramref name="except"/> itself).</summary>
    public async Task<IReadOnlyList<SentIssue>> SentIssuesAsync(int except, CancellationToken ct) =>
        await SentIssues(except).OrderByDescending(i => i.Number).Take(200).Select(i => new SentIssue(i.Id, i.Number!.Value, i.Subject)).ToListAsync(ct);

    private IQueryable<Issue> SentIssues(int except) => db.Issues.Where(i => i.Id != except && i.Number != null && !i.WebOnly && i.DeletedAt == null
        && (i.Status == IssueStatus.Sending || i.Status == IssueStatus.Sent || i.Status == IssueStatus.Paused || i.Status == IssueStatus.Cancelled));

    /// <summary>
    /// Reads and checks a segment for issue <paramref name="issueId"/>: topics that exist (at most <see cref="MaxTopics"/>),
    /// "any" or "all", dates as YYYY-MM-DD, and earlier issues that went out by email. Every problem is named.
    /// </summary>
    public async Task<SegmentCheck> CheckAsync(SegmentInput input, int issueId, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var raw = (input.Topics ?? []).Where(t => !string.IsNullOrWhiteSpace(t)).ToList();
        var chosen = new List<string>();
        if (raw.Count > MaxTopics)
        {
            errors["segment.topics"] = [$"A segment names at most {MaxTopics} topics; this one named {raw.Count}."];
        }
        else
        {
            var known = (await KnownTopicsAsync(ct)).ToHashSet(StringComparer.Ordinal);
            var unknown = new List<string>();
            foreach (var t in raw)
            {
                var tag = t.Length > 200 ? "" : Tags.Normalize(t);
                if (!known.Contains(tag))
                {
                    unknown.Add(t.Length > 40 ? t[..40] + "…" : t);
                }
                else if (!chosen.Contains(tag))
                {
                    chosen.Add(tag);
                }
            }

            if (unknown.Count > 0)
            {
                errors["segment.topics"] = [$"Unknown topic{(unknown.Count == 1 ? "" : "s")}: {string.Join(", ", unknown.Select(u => $"'{u}'"))}. A segment can name topics readers are offered or already have."];
            }
        }

        var match = TopicMatch.Any;
        switch (input.Match?.Trim().ToLowerInvariant())
        {
            case null or "" or "any":
                break;
            case "all":
                match = TopicMatch.All;
                break;
            default:
                errors["segment.match"] = ["Match is 'any' (readers of at least one topic) or 'all' (readers of every topic)."];
                break;
        }

        var from = Day(input.JoinedFrom, "segment.joinedFrom", "Joined on or after", errors);
        var before = Day(input.JoinedBefore, "segment.joinedBefore", "Joined before", errors);
        if (from is not null && before is not null && from >= before)
        {
            errors["segment.joinedBefore"] = ["'Joined before' must be a later day than 'joined on or after', or no reader can match."];
        }

        var got = await IssueAsync(input.GotIssue, "segment.gotIssue", "Got issue", issueId, errors, ct);
        var missed = await IssueAsync(input.MissedIssue, "segment.missedIssue", "Did not get issue", issueId, errors, ct);
        if (got is not null && got == missed)
        {
            errors["segment.missedIssue"] = ["A reader cannot both have got and not have got the same issue."];
        }

        return errors.Count > 0
            ? new SegmentCheck(null, errors)
            : new SegmentCheck(new Segment { Topics = chosen, Match = match, JoinedFrom = from, JoinedBefore = before, GotIssue = got, MissedIssue = missed }, errors);
    }

    private static DateOnly? Day(string? value, string key, string label, Dictionary<string, string[]> errors)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (DateOnly.TryParseExact(value.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) && day.Year >= 1970)
        {
            return day;
        }

        errors[key] = [$"{label}: '{(value.Length > 40 ? value[..40] + "…" : value)}' is not a date. Use YYYY-MM-DD, for example 2026-03-01."];
        return null;
    }

    private async Task<int?> IssueAsync(string? value, string key, string label, int issueId, Dictionary<string, string[]> errors, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (!int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || !await SentIssues(issueId).AnyAsync(i => i.Id == id, ct))
        {
            errors[key] = [$"{label}: there is no earlier issue {(value.Length > 20 ? value[..20] + "…" : value)} that went out by email."];
            return null;
        }

        return id;
    }
}
