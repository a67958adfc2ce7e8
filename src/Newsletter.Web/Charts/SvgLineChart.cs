using System.Globalization;
using System.Net;
using System.Text;

namespace Newsletter.Web.Charts;

/// <summary>
/// Draws a <see cref="Chart"/> as an SVG line chart on the server: no script, nothing loaded from elsewhere,
/// readable without CSS (titles, a description). Text sizes are in the drawing's units, so the page renders a
/// narrow drawing for phones and a wide one for screens, each at a size where its labels stay readable.
/// </summary>
public static class SvgLineChart
{
    public static string Render(Chart chart, int width, int height, string layout)
    {
        const int left = 44, right = 16, top = 14, bottom = 30;
        var plotW = width - left - right;
        var plotH = height - top - bottom;
        var n = chart.Points.Count;
        var max = NiceMax(chart.Series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max());
        double X(int i) => left + (n <= 1 ? plotW / 2.0 : i * plotW / (double)(n - 1));
        double Y(int v) => top + plotH - (v * plotH / (double)max);
        var id = $"{chart.Id}-{layout}";
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"<svg class=\"trend trend-{layout}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" data-chart=\"{E(chart.Id)}\">");
        sb.Append(inv, $"<title id=\"{id}-title\">{E(chart.Title)}</title><desc id=\"{id}-desc\">{E(chart.Description)}</desc>");

        // Grid and y labels: four steps of a round number, so a reader can read values off the lines.
        for (var step = 0; step <= 4; step++)
        {
            var v = max * step / 4;
            var y = Y(v);
            sb.Append(inv, $"<line class=\"trend-grid\" x1=\"{left}\" x2=\"{width - right}\" y1=\"{y:F1}\" y2=\"{y:F1}\"/>");
            sb.Append(inv, $"<text class=\"trend-label\" x=\"{left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{Short(v)}</text>");
        }

        // X labels: as many as fit without overlapping at this width, always the first and the last.
        var labelEvery = Math.Max(1, (int)Math.Ceiling(n / Math.Max(1.0, plotW / 90.0)));
        for (var i = 0; i < n; i++)
        {
            if (i % labelEvery != 0 && i != n - 1)
            {
                continue;
            }

            // The last label is anchored at its end: one a step away would run into it.
            if (i != n - 1 && i != 0 && n - 1 - i < labelEvery)
            {
                continue;
            }

            var anchor = n == 1 ? "middle" : i == 0 ? "start" : i == n - 1 ? "end" : "middle";
            sb.Append(inv, $"<text class=\"trend-label\" x=\"{X(i):F1}\" y=\"{height - 8}\" text-anchor=\"{anchor}\">{E(chart.Points[i])}</text>");
        }

        // Markers only where they have room: on a crowded line they merge into a thick smear.
        var showMarkers = n <= plotW / 12;
        for (var s = 0; s < chart.Series.Count; s++)
        {
            var series = chart.Series[s];
            var style = (chart.FirstStyle + s) % Chart.Styles.Count;
            var (dash, marker) = Chart.Styles[style];
            sb.Append(inv, $"<g class=\"chart-series series-{style}\" data-series=\"{E(series.Key)}\"><title>{E(series.Label)}</title>");
            var path = new StringBuilder();
            for (var i = 0; i < n; i++)
            {
                path.Append(inv, $"{(i == 0 ? 'M' : 'L')}{X(i):F1},{Y(series.Values[i]):F1}");
            }

            sb.Append(inv, $"<path d=\"{path}\" fill=\"none\"{(dash.Length > 0 ? $" stroke-dasharray=\"{dash}\"" : "")}/>");
            for (var i = 0; i < n; i++)
            {
                // Without markers on long series, the last point still carries one, so the line's shape names it.
                if (showMarkers || i == n - 1)
                {
                    sb.Append(Marker(marker, X(i), Y(series.Values[i])));
                }
            }

            sb.Append("</g>");
        }

        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>The legend's sample of a series: the same dash and marker as on the chart.</summary>
    public static string Swatch(int index)
    {
        var (dash, marker) = Chart.Styles[index % Chart.Styles.Count];
        return $"<svg class=\"chart-swatch\" viewBox=\"0 0 36 14\" width=\"36\" height=\"14\" aria-hidden=\"true\" focusable=\"false\"><g class=\"chart-series series-{index}\"><path d=\"M2,7L34,7\" fill=\"none\"{(dash.Length > 0 ? $" stroke-dasharray=\"{dash}\"" : "")}/>{Marker(marker, 18, 7)}</g></svg>";
    }

    private static string Marker(string shape, double x, double y)
    {
        var inv = CultureInfo.InvariantCulture;
        return shape switch
        {
            "square" => string.Format(inv, "<rect class=\"chart-marker\" x=\"{0:F1}\" y=\"{1:F1}\" width=\"7\" height=\"7\"/>", x - 3.5, y - 3.5),
            "triangle" => string.Format(inv, "<path class=\"chart-marker\" d=\"M{0:F1},{1:F1}L{2:F1},{3:F1}L{4:F1},{3:F1}Z\"/>", x, y - 4.5, x + 4.5, y + 3.5, x - 4.5),
            "diamond" => string.Format(inv, "<path class=\"chart-marker\" d=\"M{0:F1},{1:F1}L{2:F1},{3:F1}L{0:F1},{4:F1}L{5:F1},{3:F1}Z\"/>", x, y - 5, x + 5, y, y + 5, x - 5),
            "cross" => string.Format(inv, "<path class=\"chart-marker chart-marker-stroke\" d=\"M{0:F1},{1:F1}L{2:F1},{3:F1}M{0:F1},{3:F1}L{2:F1},{1:F1}\"/>", x - 4, y - 4, x + 4, y + 4),
            "ring" => string.Format(inv, "<circle class=\"chart-marker chart-marker-ring\" cx=\"{0:F1}\" cy=\"{1:F1}\" r=\"4\"/>", x, y),
            _ => string.Format(inv, "<circle class=\"chart-marker\" cx=\"{0:F1}\" cy=\"{1:F1}\" r=\"3.5\"/>", x, y),
        };
    }

    /// <summary>Four grid steps of a round size (1, 2, 2.5 or 5 times a power of ten) that reach the largest value.</summary>
    internal static int NiceMax(int value)
    {
        var raw = Math.Max(1, value) / 4.0;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        foreach (var f in new[] { 1, 2, 2.5, 5, 10 })
        {
            var step = f * magnitude;
            if (step >= raw && step == Math.Floor(step))
            {
                return (int)(step * 4);
            }
        }

        return (int)Math.Ceiling(raw) * 4;
    }

    private static string Short(int v) => v >= 10_000 ? (v / 1000.0).ToString("0.#", CultureInfo.InvariantCulture) + "k" : v.ToString("N0", CultureInfo.InvariantCulture);

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
