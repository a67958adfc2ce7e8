using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Segments;

/// <summary>
/// "Who gets this issue", once: the WHERE clause on "Subscribers" AS s that the send's snapshot (one INSERT ...
/// SELECT) and every count of an audience use. Plain SQL both SQLite and PostgreSQL understand; every value is a
/// positional parameter ({n}, as ExecuteSqlRaw and SqlQueryRaw take them) added to <c>values</c>, and only
/// constant fragments are spliced in, so nothing an author or a reader typed reaches the statement's text.
/// </summary>
public static class AudienceSql
{
    /// <summary>
    /// The conditions for <paramref name="segment"/>. The issue's own topics (for readers who want only some) come
    /// from the ledger's issue when <paramref name="issueId"/> is set (the snapshot), or from <paramref name="issueTags"/>
    /// (a count for an editor form whose tags are not saved yet).
    /// </summary>
    public static string Where(Segment segment, int? issueId, IReadOnlyCollection<string> issueTags, DateTime now, TimeZoneInfo zone, List<object> values)
    {
        string P(object value)
        {
            values.Add(value);
            return "{" + (values.Count - 1).ToString(System.Globalization.CultureInfo.InvariantCulture) + "}";
        }

        string In(IEnumerable<string> tags) => string.Join(", ", tags.Select(t => P(t)));

        var where = new List<string>
        {
            $"""s."Status" = {P((int)SubscriberStatus.Active)} AND (s."PausedUntil" IS NULL OR s."PausedUntil" <= {P(now)})""",
        };

        // A reader who asked for only some topics gets an issue on one of them; one who chose none gets everything.
        var issueTopics = issueId is { } id
            ? $"""SELECT it."Tag" FROM "IssueTags" it WHERE it."IssueId" = {P(id)}"""
            : issueTags.Count > 0 ? In(issueTags) : null;
        where.Add(issueTopics is null
            ? """(NOT s."TopicsOnly" OR NOT EXISTS (SELECT 1 FROM "SubscriberTags" rt WHERE rt."SubscriberId" = s."Id"))"""
            : $"""
               (NOT s."TopicsOnly" OR NOT EXISTS (SELECT 1 FROM "SubscriberTags" rt WHERE rt."SubscriberId" = s."Id")
                 OR EXISTS (SELECT 1 FROM "SubscriberTags" rt WHERE rt."SubscriberId" = s."Id" AND rt."Tag" IN ({issueTopics})))
               """);

        if (segment.Topics.Count > 0)
        {
            where.Add(segment.Match == TopicMatch.All
                // Tags are unique per reader (the key), so counting the matches counts distinct topics.
                ? $"""(SELECT COUNT(*) FROM "SubscriberTags" st WHERE st."SubscriberId" = s."Id" AND st."Tag" IN ({In(segment.Topics)})) = {P(segment.Topics.Count)}"""
                : $"""EXISTS (SELECT 1 FROM "SubscriberTags" st WHERE st."SubscriberId" = s."Id" AND st."Tag" IN ({In(segment.Topics)}))""");
        }

        if (segment.JoinedFrom is { } from)
        {
            where.Add($"""s."CreatedAt" >= {P(StartOf(from, zone))}""");
        }

        if (segment.JoinedBefore is { } before)
        {
            where.Add($"""s."CreatedAt" < {P(StartOf(before, zone))}""");
        }

        if (segment.GotIssue is { } got)
        {
            where.Add($"""EXISTS (SELECT 1 FROM "Deliveries" gd WHERE gd."IssueId" = {P(got)} AND gd."SubscriberId" = s."Id" AND gd."Status" = {P((int)DeliveryStatus.Sent)})""");
        }

        if (segment.MissedIssue is { } missed)
        {
            where.Add($"""NOT EXISTS (SELECT 1 FROM "Deliveries" md WHERE md."IssueId" = {P(missed)} AND md."SubscriberId" = s."Id" AND md."Status" = {P((int)DeliveryStatus.Sent)})""");
        }

        return string.Join("\n  AND ", where);
    }

    /// <summary>Midnight of <paramref name="day"/> in the site's zone, as UTC: "joined before 1 March" means the author's 1 March.</summary>
    public static DateTime StartOf(DateOnly day, TimeZoneInfo zone)
    {
        var midnight = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        // A zone whose clocks jump forward at midnight has no such moment that day: the day starts an hour later.
        return TimeZoneInfo.ConvertTimeToUtc(zone.IsInvalidTime(midnight) ? midnight.AddHours(1) : midnight, zone);
    }
}
