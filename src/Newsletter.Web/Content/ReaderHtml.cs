using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace Newsletter.Web.Content;

/// <summary>
/// Turns the site's sanitised HTML into what works where it is read: absolute links for feeds and inboxes,
/// and for email, the few things mail clients get wrong (form controls, tables wider than a phone).
/// </summary>
public static class ReaderHtml
{
    // overflow-wrap, not word-break: a word is never split to squeeze a column; a table wider than the phone scrolls
    // inside its own box instead.
    private const string CellStyle = "border:1px solid #d9d4c7;padding:6px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word;";

    /// <summary>
    /// A site-relative link (<c>/notes/x</c>, as notes are written) works on the web and nowhere else: a feed
    /// reader or an inbox has no base address. Links and images become absolute.
    /// </summary>
    /// <param name="image">Sees each image first, with its address as written (the issue composer sizes uploaded ones).</param>
    /// <param name="page">
    /// The page this HTML is read on, for a feed: a link within it (a footnote's <c>#fn:1</c>) leads to that page,
    /// since a feed reader shows many entries, each with its own <c>fn:1</c>, and may drop the ids.
    /// </param>
    public static string Absolutize(string html, Func<string, string> absolute, Action<IElement>? image = null, string? page = null)
    {
        if (!html.Contains("=\"/", StringComparison.Ordinal) && (page is null || !html.Contains("href=\"#", StringComparison.Ordinal)))
        {
            return html;
        }

        var body = Parse(html);
        foreach (var (element, attribute) in body.QuerySelectorAll("a[href]").Select(e => (e, "href"))
            .Concat(body.QuerySelectorAll("img[src]").Select(e => (e, "src"))))
        {
            if (attribute == "src")
            {
                image?.Invoke(element);
            }

            var value = element.GetAttribute(attribute) ?? "";
            if (value.StartsWith('/') && !value.StartsWith("//", StringComparison.Ordinal))
            {
                element.SetAttribute(attribute, absolute(value));
            }
            else if (page is not null && attribute == "href" && value.StartsWith('#'))
            {
                element.SetAttribute(attribute, absolute(page) + value);
            }
        }

        return body.InnerHtml;
    }

    /// <summary>
    /// Gives footnote ids a prefix, so several notes in one issue (each with its own <c>fn:1</c>) link to their
    /// own footnotes instead of all jumping to the first note's.
    /// </summary>
    public static string PrefixFootnotes(string html, string prefix) =>
        html.Replace("id=\"fn:", $"id=\"{prefix}fn:", StringComparison.Ordinal)
            .Replace("href=\"#fn:", $"href=\"#{prefix}fn:", StringComparison.Ordinal)
            .Replace("id=\"fnref:", $"id=\"{prefix}fnref:", StringComparison.Ordinal)
            .Replace("href=\"#fnref:", $"href=\"#{prefix}fnref:", StringComparison.Ordinal);

    /// <summary>
    /// For the email's HTML part: mail clients strip form controls, so a task list's checkboxes become ☑ and ☐;
    /// a table gets borders and padding inline (many clients drop &lt;style&gt;) and sits in a box that scrolls
    /// sideways by itself, so a wide table doesn't make the whole email wider than a phone.
    /// </summary>
    public static string ForEmail(string html)
    {
        if (!html.Contains("<input", StringComparison.Ordinal) && !html.Contains("<table", StringComparison.Ordinal) && !html.Contains("<pre tabindex", StringComparison.Ordinal))
        {
            return html;
        }

        var body = Parse(html);
        // The site's scroll boxes take keyboard focus (MarkdownRenderer); an email gets its own box below, and a
        // tab stop in a mail client's reading pane is only in the way.
        foreach (var box in body.QuerySelectorAll($"div.{MarkdownRenderer.TableScrollClass}").ToList())
        {
            box.Replace([.. box.ChildNodes]);
        }

        foreach (var pre in body.QuerySelectorAll("pre[tabindex]"))
        {
            pre.RemoveAttribute("tabindex");
        }

        foreach (var box in body.QuerySelectorAll("input[type=checkbox]").ToList())
        {
            var mark = body.Owner!.CreateElement("span");
            mark.TextContent = box.HasAttribute("checked") ? "☑ " : "☐ ";
            mark.SetAttribute("aria-hidden", "true");
            box.Replace(mark);
        }

        foreach (var table in body.QuerySelectorAll("table").ToList())
        {
            table.SetAttribute("style", "border-collapse:collapse;margin:0 0 16px 0;font-size:15px;line-height:1.4;");
            foreach (var cell in table.QuerySelectorAll("th, td"))
            {
                // The renderer turns a column's alignment (:---: or ---:) into a class, which the site's stylesheet
                // reads; mail clients read only inline styles, so it becomes one here (every cell was left-aligned).
                var align = cell.ClassList.Contains("align-right") ? "right" : cell.ClassList.Contains("align-center") ? "center" : "left";
                cell.SetAttribute("style", CellStyle.Replace("text-align:left;", $"text-align:{align};", StringComparison.Ordinal)
                    + (cell.LocalName == "th" ? "background:#f4f1ea;font-weight:bold;" : ""));
            }

            var wrapper = body.Owner!.CreateElement("div");
            wrapper.SetAttribute("style", "overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch;");
            table.Replace(wrapper);
            wrapper.AppendChild(table);
        }

        return body.InnerHtml;
    }

    private static IElement Parse(string html) =>
        new HtmlParser().ParseDocument("<!DOCTYPE html><html><body>" + html + "</body></html>").Body!;
}
