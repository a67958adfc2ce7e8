using System.Text;
using System.Text.RegularExpressions;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace Newsletter.Web.PostsImport;

/// <summary>
/// Turns a post's HTML from another platform into the Markdown notes and issues are written in. Structure the
/// site can show survives (headings, paragraphs, links, emphasis, lists, code, images, quotes); any other tag
/// gives its text; script, style, iframes and forms are dropped, and a link or image that is not http(s),
/// mailto or site-relative loses its address. The Markdown is rendered and sanitised again like any other.
/// </summary>
public static partial class HtmlToMarkdown
{
    private static readonly HashSet<string> Dropped = new(StringComparer.OrdinalIgnoreCase)
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "noscript", "template", "form", "input",
        "button", "select", "textarea", "svg", "math", "head", "title", "meta", "link", "base", "canvas", "audio", "video",
    };

    public static string Convert(string html)
    {
        var document = new HtmlParser().ParseDocument("<body>" + html + "</body>");
        var sb = new StringBuilder();
        Blocks(document.Body!, sb, "");
        var markdown = MultipleBlankLines().Replace(sb.ToString(), "\n\n").Trim();
        return markdown + "\n";
    }

    private static void Blocks(INode parent, StringBuilder sb, string indent)
    {
        var inline = new StringBuilder();
        void Flush()
        {
            var text = LineStarts(inline.ToString().Trim());
            if (text.Length > 0)
            {
                sb.Append(indent).Append(text.Replace("\n", "\n" + indent, StringComparison.Ordinal)).Append("\n\n");
            }

            inline.Clear();
        }

        foreach (var node in parent.ChildNodes)
        {
            if (node is not IElement e)
            {
                if (node is IText t)
                {
                    inline.Append(Escape(Collapse(t.Data)));
                }

                continue;
            }

            var tag = e.LocalName;
            if (Dropped.Contains(tag))
            {
                continue;
            }

            switch (tag)
            {
                case "h1" or "h2" or "h3" or "h4" or "h5" or "h6":
                    Flush();
                    var level = tag[1] - '0';
                    var heading = Inline(e).Trim();
                    if (heading.Length > 0)
                    {
                        sb.Append(indent).Append(new string('#', level)).Append(' ').Append(heading.Replace('\n', ' ')).Append("\n\n");
                    }

                    break;
                case "p":
                    Flush();
                    var paragraph = LineStarts(Inline(e).Trim());
                    if (paragraph.Length > 0)
                    {
                        sb.Append(indent).Append(paragraph.Replace("\n", "\n" + indent, StringComparison.Ordinal)).Append("\n\n");
                    }

                    break;
                case "ul" or "ol":
                    Flush();
                    var number = 1;
                    foreach (var li in e.Children.Where(c => c.LocalName == "li"))
                    {
                        var marker = tag == "ol" ? $"{number++}. " : "- ";
                        var item = new StringBuilder();
                        Blocks(li, item, "");
                        var lines = item.ToString().Trim().Split('\n');
                        sb.Append(indent).Append(marker).Append(lines[0]).Append('\n');
                        foreach (var line in lines.Skip(1))
                        {
                            sb.Append(line.Length == 0 ? "" : indent + new string(' ', marker.Length) + line).Append('\n');
                        }
                    }

                    sb.Append('\n');
                    break;
                case "blockquote":
                    Flush();
                    var quote = new StringBuilder();
                    Blocks(e, quote, "");
                    foreach (var line in quote.ToString().Trim().Split('\n'))
                    {
                        sb.Append(indent).Append(line.Length == 0 ? ">" : "> " + line).Append('\n');
                    }

                    sb.Append('\n');
                    break;
                case "pre":
                    Flush();
                    var code = e.TextContent.TrimEnd('\n');
                    var language = e.QuerySelector("code")?.ClassList.FirstOrDefault(c => c.StartsWith("language-", StringComparison.Ordinal))?[9..] ?? "";
                    // Longer than any run of backticks in the code, which then can't close it early (a run of
                    // tildes can't close a backtick fence at all).
                    var fence = new string('`', Math.Max(3, BacktickRuns().Matches(code).Select(m => m.Length).DefaultIfEmpty(0).Max() + 1));
                    sb.Append(indent).Append(fence).Append(SafeLanguage().IsMatch(language) ? language : "").Append('\n')
                        .Append(indent).Append(code.Replace("\n", "\n" + indent, StringComparison.Ordinal)).Append('\n').Append(indent).Append(fence).Append("\n\n");
                    break;
                case "hr":
                    Flush();
                    sb.Append(indent).Append("---\n\n");
                    break;
                case "div" or "section" or "article" or "figure" or "header" or "footer" or "main" or "aside" or "table" or "tbody" or "thead" or "tr" or "td" or "th" or "details" or "center" or "body" or "dl" or "dd" or "dt" or "nav":
                    Flush();
                    Blocks(e, sb, indent);
                    break;
                case "figcaption":
                    Flush();
                    var caption = Inline(e).Trim();
                    if (caption.Length > 0)
                    {
                        sb.Append(indent).Append('*').Append(caption).Append("*\n\n");
                    }

                    break;
                default:
                    inline.Append(InlineElement(e));
                    break;
            }
        }

        Flush();
    }

    private static string Inline(INode parent)
    {
        var sb = new StringBuilder();
        foreach (var node in parent.ChildNodes)
        {
            if (node is IText t)
            {
                sb.Append(Escape(Collapse(t.Data)));
            }
            else if (node is IElement e && !Dropped.Contains(e.LocalName))
            {
                sb.Append(InlineElement(e));
            }
        }

        return sb.ToString();
    }

    private static string InlineElement(IElement e)
    {
        switch (e.LocalName)
        {
            case "strong" or "b":
                return Wrap(Inline(e), "**");
            case "em" or "i":
                return Wrap(Inline(e), "*");
            case "del" or "s" or "strike":
                return Wrap(Inline(e), "~~");
            case "code":
                var code = e.TextContent;
                var ticks = code.Contains('`', StringComparison.Ordinal) ? "`` " : "`";
                return ticks + code + (ticks.Length > 1 ? " ``" : "`");
            case "br":
                return "  \n";
            case "a":
                var text = Inline(e).Trim();
                var href = SafeUrl(e.GetAttribute("href"));
                if (href is null)
                {
                    return text;
                }

                return $"[{(text.Length == 0 ? Escape(href) : text)}]({Destination(href)})";
            case "img":
                var src = SafeUrl(e.GetAttribute("src"));
                if (src is null)
                {
                    return "";
                }

                var alt = Escape(Collapse(e.GetAttribute("alt") ?? "")).Replace("]", "\\]", StringComparison.Ordinal);
                return $"![{alt}]({Destination(src)})";
            case "p" or "div" or "ul" or "ol" or "blockquote" or "pre" or "h1" or "h2" or "h3" or "h4" or "h5" or "h6" or "figure" or "table":
                // A block inside an inline (a <p> in a link): its text, so nothing is lost.
                var block = new StringBuilder();
                Blocks(e, block, "");
                return " " + block.ToString().Trim() + " ";
            default:
                return Inline(e);
        }
    }

    /// <summary>Only addresses a reader can safely follow: http(s), mailto, site-relative and fragments. javascript:, data: and friends are dropped.</summary>
    public static string? SafeUrl(string? url)
    {
        var value = url?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (value.StartsWith('#') || (value.StartsWith('/') && !value.StartsWith("//", StringComparison.Ordinal)))
        {
            return value;
        }

        if (value.StartsWith("//", StringComparison.Ordinal))
        {
            value = "https:" + value;
        }

        return Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "mailto" ? uri.AbsoluteUri : null;
    }

    private static string Destination(string url) => "<" + url.Replace("<", "%3C", StringComparison.Ordinal).Replace(">", "%3E", StringComparison.Ordinal).Replace(" ", "%20", StringComparison.Ordinal) + ">";

    private static string Wrap(string inner, string marker)
    {
        var trimmed = inner.Trim();
        if (trimmed.Length == 0)
        {
            return inner;
        }

        // Emphasis markers must touch the words, so surrounding spaces go outside.
        var lead = inner.Length > 0 && char.IsWhiteSpace(inner[0]) ? " " : "";
        var trail = inner.Length > 0 && char.IsWhiteSpace(inner[^1]) ? " " : "";
        return lead + marker + trimmed + marker + trail;
    }

    private static string Collapse(string text) => Whitespace().Replace(text, " ");

    /// <summary>Text that would otherwise read as Markdown (or raw HTML, which the renderer would then sanitise away) stays text.</summary>
    private static string Escape(string text) => MarkdownSpecials().Replace(text, "\\$0");

    /// <summary>
    /// A line of text that begins like a list item or a heading's underline ("2024. What a year", "+ one", "-")
    /// would become one in Markdown: its marker is escaped.
    /// </summary>
    private static string LineStarts(string text) => ListMarkerAtLineStart().Replace(text, m => m.Groups[1].Value + "\\" + m.Groups[2].Value);

    [GeneratedRegex(@"(?m)^(\d{0,9})([.)+=-])(?=[ \t]|$)")]
    private static partial Regex ListMarkerAtLineStart();

    [GeneratedRegex("`+")]
    private static partial Regex BacktickRuns();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"[\\`*_\[\]<>#|~]")]
    private static partial Regex MarkdownSpecials();

    [GeneratedRegex(@"\n{3,}")]
    private static partial Regex MultipleBlankLines();

    [GeneratedRegex("^[A-Za-z0-9+#-]{0,20}$")]
    private static partial Regex SafeLanguage();
}
