using System.Text.Json;
using System.Text.Json.Serialization;

namespace Newsletter.Web.Author;

/// <summary>The structured front matter of the bio note (notes/about.md, kind: bio).</summary>
public sealed class BioProfile
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        Converters = { new BioFocus.Converter(), new BioSectionKindConverter() },
    };

    public string? Name { get; set; }

    public string? Headline { get; set; }

    /// <summary>A second line under the headline: what the author does, or what the newsletter is, in a sentence.</summary>
    public string? Tagline { get; set; }

    public string? Role { get; set; }

    public string? Employer { get; set; }

    public string? Location { get; set; }

    public string? Photo { get; set; }

    public List<BioLink> Links { get; set; } = [];

    public List<BioPhase> Timeline { get; set; } = [];

    public List<BioPrinciple> Principles { get; set; } = [];

    public List<BioFocus> Focus { get; set; } = [];

    /// <summary>
    /// The page's sections in the author's order. Without it, the fixed order from before sections existed:
    /// body, Currently, Focus, Timeline, Principles, About the newsletter.
    /// </summary>
    public List<BioSection> Sections { get; set; } = [];

    /// <summary>The sections to render: the author's list, or the old fixed order.</summary>
    public IReadOnlyList<BioSection> Ordered() => Sections.Count > 0 ? Sections :
    [
        new() { Kind = BioSectionKind.Body },
        new() { Kind = BioSectionKind.Currently },
        new() { Kind = BioSectionKind.Focus },
        new() { Kind = BioSectionKind.Timeline },
        new() { Kind = BioSectionKind.Principles },
        new() { Kind = BioSectionKind.Newsletter },
    ];

    public string? Currently { get; set; }

    public string? Newsletter { get; set; }

    internal static JsonSerializerOptions JsonOptions => Json;

    /// <summary>
    /// The words the page shows beside the body (headline, role, timeline, sections), as Markdown, one a
    /// line: appended to the bio's search text so a reader searching for a former employer finds /about.
    /// </summary>
    public string SearchMarkdown()
    {
        IEnumerable<string?> parts =
        [
            Name, Headline, Tagline, Role, Employer, Location, Currently, Newsletter,
            .. Timeline.SelectMany(p => new[] { p.Title, p.Org, p.Period, p.Text }),
            .. Principles.SelectMany(p => new[] { p.Title, p.Text }),
            .. Focus.SelectMany(f => new[] { f.Title, f.Text }),
            .. Sections.SelectMany(x => new[] { x.Title, x.Text }),
        ];
        return string.Join("\n\n", parts.Where(p => !string.IsNullOrWhiteSpace(p)).Select(p => p!.Trim()));
    }

    public static BioProfile Parse(string? json) =>
        string.IsNullOrEmpty(json) ? new BioProfile() : JsonSerializer.Deserialize<BioProfile>(json, Json) ?? new BioProfile();

    /// <summary>Front matter is author input: only web, mail and relative links become anchors.</summary>
    public static bool IsSafeUrl(string? url) =>
        url is not null && (url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
            || url.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase) || (url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal)));
}

public sealed class BioLink
{
    public string Label { get; set; } = "";

    public string Url { get; set; } = "";

    public string Kind { get; set; } = "other";
}

public sealed class BioPhase
{
    public string Title { get; set; } = "";

    public string? Period { get; set; }

    public string? Org { get; set; }

    public string? Text { get; set; }
}

public sealed class BioPrinciple
{
    public string Title { get; set; } = "";

    public string? Text { get; set; }
}

/// <summary>A focus area: a title, and optionally a few lines of Markdown. A bare string (the old form) is a title alone.</summary>
public sealed class BioFocus
{
    public string Title { get; set; } = "";

    public string? Text { get; set; }

    internal sealed class Converter : JsonConverter<BioFocus>
    {
        public override BioFocus? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.String)
            {
                return new BioFocus { Title = reader.GetString() ?? "" };
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException("a focus area is a title, or a title and a text");
            }

            using var doc = JsonDocument.ParseValue(ref reader);
            string? Field(string name) => doc.RootElement.EnumerateObject().FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) is { Value.ValueKind: JsonValueKind.String } p
                ? p.Value.GetString() : null;
            return new BioFocus { Title = Field("title") ?? "", Text = Field("text") };
        }

        public override void Write(Utf8JsonWriter writer, BioFocus value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            writer.WriteString("title", value.Title);
            writer.WriteString("text", value.Text);
            writer.WriteEndObject();
        }
    }
}

/// <summary>The built-in kinds of section a bio can list.</summary>
public enum BioSectionKind
{
    /// <summary>Free Markdown: the section's own text.</summary>
    Markdown,

    /// <summary>The Markdown body of the file, below the front matter.</summary>
    Body,
    Timeline,
    Principles,
    Focus,
    Currently,
    Newsletter,
    Links,

    /// <summary>A call to action: a short text, buttons, and optionally the subscribe form.</summary>
    Cta,

    /// <summary>A kind this version does not know: skipped, so a newer file still renders its other sections.</summary>
    Unknown,
}

/// <summary>
/// One section of the bio, in the order written. Lists (items) and text left out come from the top-level
/// fields of the same kind (timeline, principles, focus, links, currently, newsletter), so an old bio gains an
/// order by naming its sections and nothing else.
/// </summary>
public sealed class BioSection
{
    public BioSectionKind Kind { get; set; }

    /// <summary>The heading; each kind has a default, and body and Markdown sections may have none.</summary>
    public string? Title { get; set; }

    /// <summary>The anchor (#id); taken from the title when left out.</summary>
    public string? Id { get; set; }

    /// <summary>Markdown: the whole section (markdown, currently, newsletter, cta) or an introduction above a list.</summary>
    public string? Text { get; set; }

    /// <summary>The list of a timeline, principles, focus or links section, in that kind's shape.</summary>
    public JsonElement? Items { get; set; }

    /// <summary>A call to action's buttons.</summary>
    public List<BioLink> Actions { get; set; } = [];

    /// <summary>"true" for a call to action that carries the subscribe form (front matter values arrive as text).</summary>
    public string? Subscribe { get; set; }

    public bool HasSubscribeForm => Subscribe?.Trim().ToLowerInvariant() is "true" or "yes";

    public string? DefaultTitle => Kind switch
    {
        BioSectionKind.Timeline => "Timeline",
        BioSectionKind.Principles => "Principles",
        BioSectionKind.Focus => "Focus",
        BioSectionKind.Currently => "Currently",
        BioSectionKind.Newsletter => "About the newsletter",
        BioSectionKind.Links => "Links",
        _ => null,
    };

    /// <summary>The section's own items, or the top-level list of its kind when it has none.</summary>
    /// <exception cref="JsonException">The items are not a list of this kind's shape.</exception>
    public List<T> ItemsAs<T>(List<T> fallback) => Items switch
    {
        null or { ValueKind: JsonValueKind.Null } => fallback,
        { ValueKind: JsonValueKind.Array } items => items.Deserialize<List<T>>(BioProfile.JsonOptions) ?? [],
        _ => throw new JsonException($"a {Kind.ToString().ToLowerInvariant()} section's items must be a list"),
    };
}

/// <summary>Reads a section's kind by name, with the spellings an author is likely to write ("call to action", "focus areas").</summary>
internal sealed class BioSectionKindConverter : JsonConverter<BioSectionKind>
{
    public override BioSectionKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var name = new string((reader.GetString() ?? "").Where(char.IsLetter).ToArray()).ToLowerInvariant();
        return name switch
        {
            "markdown" or "text" or "free" => BioSectionKind.Markdown,
            "body" => BioSectionKind.Body,
            "timeline" or "career" or "journey" => BioSectionKind.Timeline,
            "principles" => BioSectionKind.Principles,
            "focus" or "focusareas" => BioSectionKind.Focus,
            "currently" or "now" => BioSectionKind.Currently,
            "newsletter" => BioSectionKind.Newsletter,
            "links" or "connect" => BioSectionKind.Links,
            "cta" or "calltoaction" => BioSectionKind.Cta,
            _ => BioSectionKind.Unknown,
        };
    }

    public override void Write(Utf8JsonWriter writer, BioSectionKind value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString().ToLowerInvariant());
}
