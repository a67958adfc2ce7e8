using Microsoft.AspNetCore.Mvc.ViewFeatures;

namespace Newsletter.Web.Site;

/// <summary>What a public page tells search engines and link previews about itself.</summary>
public sealed record PageMeta(string Title, string Description, string Path, string OgType = "website")
{
    public DateTime? Published { get; init; }

    public DateTime? Modified { get; init; }

    public string? JsonLd { get; init; }

    public bool NoIndex { get; init; }

    /// <summary>"notes" or "issues" with the slug: the page gets its own PNG social card; other pages show the site's.</summary>
    public (string Kind, string Slug)? Card { get; init; }

    public static PageMeta? From(ViewDataDictionary viewData) => viewData["Meta"] as PageMeta;
}
