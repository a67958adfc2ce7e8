using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Newsletter.Web.Segments;

/// <summary>How an issue's topics are matched against a reader's.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TopicMatch>))]
public enum TopicMatch
{
    /// <summary>Readers with at least one of the topics.</summary>
    Any,

    /// <summary>Readers with every one of the topics.</summary>
    All,
}

/// <summary>
/// Who an issue goes to: every active reader, narrowed by each condition that is set (they combine with AND).
/// Stored on the issue as a small JSON document; the SQL that applies it lives in <see cref="AudienceSql"/>.
/// </summary>
public sealed record Segment
{
    public static readonly Segment Everyone = new();

    /// <summary>Readers tagged with these topics (any or all of them, <see cref="Match"/>); empty means no topic condition.</summary>
    public IReadOnlyList<string> Topics { get; init; } = [];

    public TopicMatch Match { get; init; } = TopicMatch.Any;

    /// <summary>Readers who joined on or after this day (in the site's time zone).</summary>
    public DateOnly? JoinedFrom { get; init; }

    /// <summary>Readers who joined before this day (in the site's time zone).</summary>
    public DateOnly? JoinedBefore { get; init; }

    /// <summary>Readers the ledger shows this earlier issue (by id) reached: a Sent delivery.</summary>
    public int? GotIssue { get; init; }

    /// <summary>Readers the ledger shows this earlier issue (by id) did not reach: no Sent delivery.</summary>
    public int? MissedIssue { get; init; }

    [JsonIgnore]
    public bool IsEveryone => Topics.Count == 0 && JoinedFrom is null && JoinedBefore is null && GotIssue is null && MissedIssue is null;

    /// <summary>Equal segments have equal JSON: the form's fingerprint and EF's change tracking compare this.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static Segment FromJson(string? json) =>
        string.IsNullOrWhiteSpace(json) ? Everyone : JsonSerializer.Deserialize<Segment>(json, Json) ?? Everyone;

    /// <summary>One line for pages: "readers of #rust or #go who joined before 2026-03-01".</summary>
    public string Describe(Func<int, string>? issueName = null)
    {
        var parts = new List<string>();
        if (Topics.Count > 0)
        {
            parts.Add("readers of " + string.Join(Match == TopicMatch.All ? " and " : " or ", Topics.Select(t => "#" + t)));
        }

        if (JoinedFrom is { } from)
        {
            parts.Add("joined on or after " + from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        }

        if (JoinedBefore is { } before)
        {
            parts.Add("joined before " + before.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        }

        issueName ??= id => $"issue {id}";
        if (GotIssue is { } got)
        {
            parts.Add("got " + issueName(got));
        }

        if (MissedIssue is { } missed)
        {
            parts.Add("did not get " + issueName(missed));
        }

        return parts.Count == 0 ? "all active subscribers" : "active subscribers: " + string.Join("; ", parts);
    }

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>The segment as a JSON text column on both databases (no JSON operators are needed: SQL never looks inside it).</summary>
internal sealed class SegmentConverter() : ValueConverter<Segment, string>(s => s.ToJson(), json => Segment.FromJson(json));

internal sealed class SegmentComparer() : ValueComparer<Segment>((a, b) => a!.ToJson() == b!.ToJson(), s => s.ToJson().GetHashCode(StringComparison.Ordinal), s => s);
