using System.Globalization;
using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace Newsletter.Web.Content;

/// <summary>
/// The text/plain part of an email, written from the sanitised HTML the way a careful person writes a text
/// email: blank lines between paragraphs, headings on their own lines, "- " and "1. " lists, links as [1]
/// references listed under the text, tables in aligned columns (or "label: value" when too wide), footnotes
/// as [^1] notes, code verbatim, quotes with "> ", images as their alt text.
/// It is not the search text (<see cref="MarkdownRenderer.PlainTextOf"/>): link addresses and reference
/// numbers would count as words and match searches for "https".
/// </summary>
public static partial class EmailText
{
    /// <summary>Wider than this, a table is written as "label: value" rows; most text clients show 72 to 80 columns.</summary>
    public const int MaxTableWidth = 72;

    public static string Of(string html, string baseUrl)
    {
        var document = new HtmlParser().ParseDocument("<!DOCTYPE html><html><body>" + html + "</body></html>");
        var writer = new Writer(baseUrl);
        var blocks = writer.Blocks(document.Body!);
        var text = new StringBuilder(string.Join("\n\n", blocks));
        if (writer.Links.Count > 0)
        {
            text.Append("\n\n");
            for (var i = 0; i < writer.Links.Count; i++)
            {
                text.Append(CultureInfo.InvariantCulture, $"[{i + 1}] {writer.Links[i]}\n");
            }
        }

        return text.ToString().TrimEnd() + "\n";
    }

    private sealed class Writer(string baseUrl)
    {
        public List<string> Links { get; } = [];

        private readonly Uri? _base = Uri.TryCreate(baseUrl.TrimEnd('/') + "/", UriKind.Absolute, out var b) ? b : null;

        /// <summary>The element's children as blocks of text, each already formatted; inline runs between blocks become paragraphs.</summary>
        public List<string> Blocks(INode parent)
        {
            var blocks = new List<string>();
            var inline = new StringBuilder();
            void FlushInline()
            {
                var text = Tidy(inline.ToString());
                if (text.Length > 0)
                {
                    blocks.Add(text);
                }

                inline.Clear();
            }

            foreach (var node in parent.ChildNodes)
            {
                if (node is IElement e && IsBlock(e))
                {
                    FlushInline();
                    var block = Block(e);
                    if (block.Length > 0)
                    {
                        blocks.Add(block);
                    }
                }
                else
                {
                    Inline(node, inline);
                }
            }

            FlushInline();
            return blocks;
        }

        private static bool IsBlock(IElement e) => e.LocalName is "p" or "div" or "section" or "article" or "header" or "footer" or "aside" or "main" or "nav" or "figure" or "figcaption"
            or "h1" or "h2" or "h3" or "h4" or "h5" or "h6" or "ul" or "ol" or "pre" or "blockquote" or "table" or "hr" or "dl" or "details" or "summary";

        private string Block(IElement e)
        {
            switch (e.LocalName)
            {
                case "p":
                case "summary":
                case "figcaption":
                    return InlineText(e);
                case "h1":
                case "h2":
                    {
                        var title = InlineText(e);
                        return title.Length == 0 ? "" : title + "\n" + new string(e.LocalName == "h1" ? '=' : '-', Math.Min(72, Math.Max(3, title.Length)));
                    }

                case "h3":
                case "h4":
                case "h5":
                case "h6":
                    {
                        var title = InlineText(e);
                        return title.Length == 0 ? "" : new string('#', e.LocalName[1] - '0') + " " + title;
                    }

                case "hr":
                    return "* * *";
                case "pre":
                    // Verbatim: code is copied from here, so no indent and no reflow.
                    return (e.TextContent ?? "").Replace("\r\n", "\n", StringComparison.Ordinal).Trim('\n');
                case "blockquote":
                    return Prefix(string.Join("\n\n", Blocks(e)), "> ", ">");
                case "ul":
                case "ol":
                    return List(e);
                case "dl":
                    return Definitions(e);
                case "table":
                    return Table(e);
                default:
                    if (e.ClassList.Contains("footnotes"))
                    {
                        return Footnotes(e);
                    }

                    return string.Join("\n\n", Blocks(e));
            }
        }

        private string List(IElement list)
        {
            var ordered = list.LocalName == "ol";
            var number = ordered && int.TryParse(list.GetAttribute("start"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var start) ? start : 1;
            var items = new List<string>();
            var loose = list.Children.Any(li => li.Children.Any(c => c.LocalName == "p"));
            foreach (var li in list.Children.Where(c => c.LocalName == "li"))
            {
                var marker = ordered ? string.Create(CultureInfo.InvariantCulture, $"{number++}. ") : "- ";
                var body = string.Join(loose ? "\n\n" : "\n", Blocks(li));
                items.Add(marker + Indent(body, new string(' ', marker.Length)));
            }

            // A list whose items hold paragraphs reads better with air between them, as in the HTML.
            return string.Join(loose ? "\n\n" : "\n", items);
        }

        private string Definitions(IElement dl)
        {
            var lines = new List<string>();
            foreach (var child in dl.Children)
            {
                if (child.LocalName == "dt")
                {
                    lines.Add(InlineText(child));
                }
                else if (child.LocalName == "dd")
                {
                    lines.Add("    " + Indent(string.Join("\n\n", Blocks(child)), "    "));
                }
            }

            return string.Join("\n", lines);
        }

        /// <summary>Markdig's footnotes: an ordered list at the end, each note with a ↩ link back to its mark, which an inbox can't follow.</summary>
        private string Footnotes(IElement footnotes)
        {
            var notes = new List<string>();
            var number = 1;
            foreach (var li in footnotes.QuerySelectorAll("li"))
            {
                foreach (var back in li.QuerySelectorAll("a.footnote-back-ref").ToList())
                {
                    back.Remove();
                }

                var mark = string.Create(CultureInfo.InvariantCulture, $"[^{number++}]: ");
                notes.Add(mark + Indent(string.Join("\n\n", Blocks(li)), "    "));
            }

            return notes.Count == 0 ? "" : "* * *\n\n" + string.Join("\n", notes);
        }

        private string Table(IElement table)
        {
            var rows = new List<(bool Header, List<(string Text, bool Right)> Cells)>();
            foreach (var tr in table.QuerySelectorAll("tr"))
            {
                var cells = tr.Children.Where(c => c.LocalName is "td" or "th")
                    .Select(c => (InlineText(c).Replace('\n', ' '), c.ClassList.Contains("align-right"))).ToList();
                if (cells.Count > 0)
                {
                    rows.Add((tr.Children.Any(c => c.LocalName == "th") && (tr.ParentElement?.LocalName == "thead" || rows.Count == 0), cells));
                }
            }

            if (rows.Count == 0)
            {
                return "";
            }

            var columns = rows.Max(r => r.Cells.Count);
            var widths = Enumerable.Range(0, columns).Select(i => rows.Max(r => i < r.Cells.Count ? r.Cells[i].Text.Length : 0)).ToArray();
            var header = rows[0].Header ? rows[0].Cells.Select(c => c.Text).ToList() : null;
            if (widths.Sum() + (2 * (columns - 1)) <= MaxTableWidth)
            {
                var lines = new List<string>();
                foreach (var (isHeader, cells) in rows)
                {
                    lines.Add(string.Join("  ", Enumerable.Range(0, columns).Select(i =>
                    {
                        var (text, right) = i < cells.Count ? cells[i] : ("", false);
                        return right && !isHeader ? text.PadLeft(widths[i]) : text.PadRight(widths[i]);
                    })).TrimEnd());
                    if (isHeader)
                    {
                        lines.Add(string.Join("  ", widths.Select(w => new string('-', Math.Max(1, w)))));
                    }
                }

                return string.Join("\n", lines);
            }

            // Too wide for a text column: one block per row, each cell under its column's name.
            var records = rows.Where(r => !r.Header).Select(r => string.Join("\n", r.Cells.Select((c, i) =>
                header is not null && i < header.Count && header[i].Length > 0 ? $"{header[i]}: {c.Text}" : c.Text)));
            return string.Join("\n\n", records);
        }

        private string InlineText(IElement e)
        {
            var text = new StringBuilder();
            foreach (var child in e.ChildNodes)
            {
                if (child is IElement block && IsBlock(block))
                {
                    // A block inside an inline context (a list in a table cell): keep its words.
                    text.Append(' ').Append(string.Join(" ", Blocks(block))).Append(' ');
                }
                else
                {
                    Inline(child, text);
                }
            }

            return Tidy(text.ToString());
        }

        private void Inline(INode node, StringBuilder text)
        {
            switch (node)
            {
                case IText t:
                    // A line break in the source is a soft break; only <br> breaks a line.
                    text.Append(t.Data.Replace('\n', ' '));
                    return;
                case IElement e:
                    switch (e.LocalName)
                    {
                        case "br":
                            text.Append('\n');
                            return;
                        case "img":
                            text.Append(e.GetAttribute("alt")?.Trim() ?? "");
                            return;
                        case "input":
                            if (string.Equals(e.GetAttribute("type"), "checkbox", StringComparison.OrdinalIgnoreCase))
                            {
                                text.Append(e.HasAttribute("checked") ? "[x] " : "[ ] ");
                            }

                            return;
                        case "a":
                            Link(e, text);
                            return;
                        case "script":
                        case "style":
                        case "template":
                            return;
                        default:
                            foreach (var child in e.ChildNodes)
                            {
                                Inline(child, text);
                            }

                            return;
                    }

                default:
                    return;
            }
        }

        private void Link(IElement a, StringBuilder text)
        {
            var label = new StringBuilder();
            foreach (var child in a.ChildNodes)
            {
                Inline(child, label);
            }

            var words = Tidy(label.ToString());
            var href = a.GetAttribute("href")?.Trim() ?? "";
            if (a.ClassList.Contains("footnote-ref"))
            {
                text.Append("[^").Append(words).Append(']');
                return;
            }

            // An anchor on the same page, or a link the sanitiser emptied: only its words.
            if (href.Length == 0 || href.StartsWith('#'))
            {
                text.Append(label);
                return;
            }

            var url = Absolute(href);
            if (words.Length == 0 || SameAddress(words, url))
            {
                text.Append(url);
                return;
            }

            var index = Links.IndexOf(url);
            if (index < 0)
            {
                Links.Add(url);
                index = Links.Count - 1;
            }

            text.Append(label).Append(string.Create(CultureInfo.InvariantCulture, $" [{index + 1}]"));
        }

        /// <summary>A site-relative link made absolute: an inbox has no base address. (Not Uri.TryCreate(Absolute): on Linux "/notes/x" is a file path.)</summary>
        private string Absolute(string href) =>
            _base is not null && !HasScheme().IsMatch(href) && !href.StartsWith("//", StringComparison.Ordinal) && Uri.TryCreate(_base, href.TrimStart('/'), out var full)
                ? full.AbsoluteUri
                : href;

        /// <summary>"example.org/x", "https://example.org/x/" and "mailto:a@b" are the address they link to: writing it twice helps nobody.</summary>
        private static bool SameAddress(string words, string url)
        {
            static string Bare(string s)
            {
                s = s.Trim().TrimEnd('/');
                foreach (var prefix in new[] { "mailto:", "https://", "http://" })
                {
                    if (s.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                    {
                        s = s[prefix.Length..];
                    }
                }

                return s;
            }

            return string.Equals(Bare(words), Bare(url), StringComparison.OrdinalIgnoreCase);
        }

        /// <summary>Collapses HTML's whitespace to single spaces, keeping the line breaks a &lt;br&gt; made.</summary>
        private static string Tidy(string text)
        {
            var lines = text.Split('\n').Select(l => string.Join(' ', l.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries)));
            return string.Join('\n', lines).Trim('\n', ' ');
        }

        private static string Indent(string text, string indent) => text.Replace("\n", "\n" + indent, StringComparison.Ordinal).Replace("\n" + indent + "\n", "\n\n", StringComparison.Ordinal);

        private static string Prefix(string text, string prefix, string emptyPrefix) =>
            string.Join('\n', text.Split('\n').Select(l => l.Length == 0 ? emptyPrefix : prefix + l));
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial System.Text.RegularExpressions.Regex HasScheme();
}
