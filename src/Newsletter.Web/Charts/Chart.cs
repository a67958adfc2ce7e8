namespace Newsletter.Web.Charts;

/// <summary>One line of a chart: a name a reader understands and one value per point on the x axis.</summary>
public sealed record ChartSeries(string Key, string Label, IReadOnlyList<int> Values);

/// <summary>
/// What a chart shows, independent of how it is drawn: the SVG and the table that stands in for it
/// (screen readers, copying numbers) are both rendered from this, so they can never disagree.
/// </summary>
public sealed record Chart(string Id, string Title, string Description, string XAxis, IReadOnlyList<string> Points, IReadOnlyList<ChartSeries> Series)
{
    /// <summary>The style (<see cref="Styles"/>) of the first series, so a chart that continues another keeps its lines apart.</summary>
    public int FirstStyle { get; init; }

    /// <summary>Running totals: a series' total is its last point, not the sum of its points.</summary>
    public bool Cumulative { get; init; }

    public bool IsEmpty => Series.All(s => s.Values.All(v => v == 0));

    public int Total(ChartSeries series) => series.Values.Count == 0 ? 0 : Cumulative ? series.Values[^1] : series.Values.Sum();

    /// <summary>The series' styles in a fixed order: a colour, a dash pattern and a marker shape each, so no line is told apart by colour alone.</summary>
    public static readonly IReadOnlyList<(string Dash, string Marker)> Styles =
    [
        ("", "circle"),
        ("8 4", "square"),
        ("2 3", "triangle"),
        ("10 3 2 3", "diamond"),
        ("4 4", "cross"),
        ("1 5", "ring"),
    ];
}
