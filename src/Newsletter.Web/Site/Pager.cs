namespace Newsletter.Web.Site;

/// <summary>Page numbers for public lists. Pages past the end are 404, not an empty page.</summary>
public sealed record Pager(int Page, int Size, int Total, string BasePath)
{
    public static Pager Empty { get; } = new(1, 10, 0, "/");

    public int Pages => Math.Max(1, (int)Math.Ceiling(Total / (double)Math.Max(1, Size)));

    public bool IsValid => Page >= 1 && Page <= Pages;

    public string? PreviousUrl => Page > 1 ? Link(Page - 1) : null;

    public string? NextUrl => Page < Pages ? Link(Page + 1) : null;

    public string Link(int page)
    {
        if (page == 1)
        {
            return BasePath;
        }

        return BasePath + (BasePath.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "page=" + page;
    }
}
