using System.Text.Json;
using System.Text.Json.Serialization;

namespace Newsletter.Web.Author;

/// <summary>The structured front matter of the bio note (notes/about.md, kind: bio).</summary>
public sealed class BioProfile
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, NumberHandling = JsonNumberHandling.AllowReadingFromString };

    public string? Name { get; set; }

    public string? Headline { get; set; }

    public string? Role { get; set; }

    public string? Employer { get; set; }

    public string? Location { get; set; }

    public string? Photo { get; set; }

    public List<BioLink> Links { get; set; } = [];

    public List<BioPhase> Timeline { get; set; } = [];

    public List<BioPrinciple> Principles { get; set; } = [];

    public List<string> Focus { get; set; } = [];

    public string? Currently { get; set; }

    public string? Newsletter { get; set; }

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
