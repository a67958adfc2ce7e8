using Ganss.Xss;
using Markdig;
using Markdig.Extensions.AutoIdentifiers;

namespace Newsletter.Web.Content;

/// <summary>
/// The one Markdown pipeline for notes, issues and the bio. Output is always sanitised: Markdown allows
/// raw HTML, and an author's paste (or an imported file) must never put script on a reader's page or in
/// an email.
/// </summary>
public sealed partial class MarkdownRenderer
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables()
        .UseGridTables()
        .UseFootnotes()
        .UseTaskLists()
        .UseAutoIdentifiers(AutoIdentifierOptions.GitHub)
        .UseEmphasisExtras()
        .UseSmartyPants()
        .UseAutoLinks()
        .UseDefinitionLists()
        .UseAbbreviations()
        .Build();

    // Made on first use: a restart whose notes/ has not changed renders nothing, and making a sanitiser (its
    // CSS parser's tables) was a twentieth of such a start's CPU, before the first page.
    private readonly Lazy<HtmlSanitizer> _sanitizer = new(CreateSanitizer);

    public RenderedMarkdown Render(string markdown)
    {
        if (MarkdownShape.TooComplex(markdown) is { } why)
        {
            throw new MarkdownTooComplexException(why);
        }

        string html;
        try
        {
            html = Markdown.ToHtml(markdown ?? "", Pipeline);
        }
        catch (ArgumentException e)
        {
            // Markdig's own limit: elements nested more than 128 deep (quotes in quotes, brackets in brackets).
            throw new MarkdownTooComplexException("The text nests quotes, lists or brackets more than 128 deep, which can't be rendered. " + MarkdownShape.Advice, e);
        }

        // The CSP forbids inline styles, so table alignment travels as a class instead.
        html = TableAlignment().Replace(html, "class=\"align-$1\"");
        var clean = _sanitizer.Value.Sanitize(html);
        return new RenderedMarkdown(clean, PlainTextOf(clean));
    }

    /// <summary>
    /// Text from the sanitised HTML, not from the Markdown: raw HTML in the source (a pasted script) must
    /// not turn up in summaries, search snippets or word counts. This is the search text, one block a line;
    /// emails get their own (<see cref="EmailText"/>). A heading ends as a sentence, so an excerpt or a
    /// snippet that runs on into the text reads "The ledger. The heart of…", not "The ledger The heart of…".
    /// </summary>
    public static string PlainTextOf(string html)
    {
        var document = new AngleSharp.Html.Parser.HtmlParser().ParseDocument("<body>" + html + "</body>");
        // A footnote's ↩ link back to its mark is not a word of the text.
        foreach (var back in document.Body!.QuerySelectorAll("a.footnote-back-ref").ToList())
        {
            back.Remove();
        }

        foreach (var heading in document.Body.QuerySelectorAll("h1, h2, h3, h4, h5, h6, dt"))
        {
            var title = (heading.TextContent ?? "").TrimEnd();
            if (title.Length > 0 && !char.IsPunctuation(title[^1]))
            {
                heading.AppendChild(document.CreateTextNode("."));
            }
        }

        foreach (var cell in document.Body.QuerySelectorAll("td, th"))
        {
            cell.After(document.CreateTextNode(" "));
        }

        foreach (var block in document.Body.QuerySelectorAll("p, li, h1, h2, h3, h4, h5, h6, pre, blockquote, tr, dd, dt, br"))
        {
            block.After(document.CreateTextNode("\n"));
        }

        var lines = (document.Body.TextContent ?? "").Split('\n').Select(l => string.Join(' ', l.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries))).Where(l => l.Length > 0);
        return string.Join('\n', lines);
    }

    /// <summary>The link schemes that survive sanitising; any other link loses its address.</summary>
    public static IReadOnlyList<string> AllowedSchemes { get; } = ["http", "https", "mailto"];

    /// <summary>
    /// The links and images in this Markdown whose address the sanitiser removes (an ftp: or javascript: link),
    /// by the same rules, so preflight can say what happened instead of "has no address".
    /// </summary>
    public static IReadOnlyList<RemovedLink> RemovedLinks(string markdown)
    {
        var removed = new List<RemovedLink>();
        var sanitizer = CreateSanitizer();
        sanitizer.RemovingAttribute += (_, e) =>
        {
            if (e.Reason == RemoveReason.NotAllowedUrlValue && e.Attribute.Name is "href" or "src")
            {
                var label = e.Tag.TagName.Equals("IMG", StringComparison.Ordinal) ? e.Tag.GetAttribute("alt") ?? "" : e.Tag.TextContent;
                removed.Add(new RemovedLink(string.Join(' ', label.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)), e.Attribute.Value.Trim(), e.Attribute.Name == "src"));
            }
        };
        sanitizer.Sanitize(Markdown.ToHtml(markdown ?? "", Pipeline));
        return removed;
    }

    /// <summary>Sanitises HTML that did not come from Markdown (for example a template's output).</summary>
    public string Sanitize(string html) => _sanitizer.Value.Sanitize(html);

    [System.Text.RegularExpressions.GeneratedRegex("style=\"text-align: (left|center|right);?\"")]
    private static partial System.Text.RegularExpressions.Regex TableAlignment();

    private static HtmlSanitizer CreateSanitizer()
    {
        var s = new HtmlSanitizer();
        s.AllowedSchemes.Clear();
        s.AllowedSchemes.UnionWith(AllowedSchemes);
        s.AllowedAttributes.UnionWith(["class", "id", "role", "aria-label", "aria-hidden", "rel"]);
        // A form in a note or an email is a phishing kit: none of its parts survive.
        foreach (var tag in new[] { "form", "button", "select", "option", "optgroup", "textarea", "fieldset", "legend", "label", "datalist", "output" })
        {
            s.AllowedTags.Remove(tag);
        }

        // Task lists render disabled checkboxes; nothing else may be an input.
        s.AllowedTags.Add("input");
        s.AllowedAttributes.UnionWith(["type", "checked", "disabled"]);
        s.RemovingAttribute += (_, e) =>
        {
            if (e.Tag.TagName.Equals("input", StringComparison.OrdinalIgnoreCase) && e.Attribute.Name == "type")
            {
                e.Cancel = false;
            }
        };
        s.PostProcessNode += (_, e) =>
        {
            if (e.Node is AngleSharp.Dom.IElement el && el.TagName.Equals("INPUT", StringComparison.Ordinal)
                && !string.Equals(el.GetAttribute("type"), "checkbox", StringComparison.OrdinalIgnoreCase))
            {
                el.Remove();
            }
            else if (e.Node is AngleSharp.Dom.IElement input && input.TagName.Equals("INPUT", StringComparison.Ordinal))
            {
                input.SetAttribute("disabled", "disabled");
            }
        };
        s.PostProcessDom += (_, e) => MakeReadable(e.Document);
        s.AllowedCssProperties.Clear();
        s.AllowedAtRules.Clear();
        s.AllowedAttributes.Remove("style");
        return s;
    }
    /// <summary>
    /// What a keyboard or screen-reader user needs from the blocks Markdown makes. A table or a code block wider than
    /// a phone scrolls inside its own box, and a box that scrolls must take focus, or a keyboard can't scroll it
    /// (axe: scrollable-region-focusable); a task's checkbox is named by its task (axe: label). Done on the tree the
    /// sanitiser has already parsed, so a render parses once, and after its checks, so this HTML is ours, not the
    /// author's. Idempotent, since an issue's HTML (notes already rendered) is sanitised again. Emails undo the focus
    /// parts (<see cref="ReaderHtml.ForEmail"/>).
    /// </summary>
    private static void MakeReadable(AngleSharp.Dom.IParentNode document)
    {
        var boxes = new List<AngleSharp.Dom.IElement>();
        foreach (var table in document.QuerySelectorAll("table").ToList())
        {
            if (table.ParentElement is { } parent && parent.LocalName == "div" && parent.ClassList.Contains(TableScrollClass))
            {
                boxes.Add(parent);
                continue;
            }

            var box = table.Owner!.CreateElement("div");
            box.ClassList.Add(TableScrollClass);
            table.Replace(box);
            box.AppendChild(table);
            boxes.Add(box);
        }

        // A region is a landmark, and two landmarks with one name are one too many (axe: landmark-unique): with
        // several tables each has its number, counted again when an issue puts its notes' tables together.
        for (var i = 0; i < boxes.Count; i++)
        {
            boxes[i].SetAttribute("tabindex", "0");
            boxes[i].SetAttribute("role", "region");
            boxes[i].SetAttribute("aria-label", boxes.Count == 1 ? "Table" : $"Table {i + 1}");
        }

        foreach (var pre in document.QuerySelectorAll("pre"))
        {
            pre.SetAttribute("tabindex", "0");
        }

        foreach (var box in document.QuerySelectorAll("input[type=checkbox]"))
        {
            var item = box.ParentElement;
            // The task's own words: a nested list under it is other tasks.
            var words = item is null ? "" : string.Join(' ', string.Concat(item.ChildNodes
                .Where(n => n is not AngleSharp.Dom.IElement { LocalName: "ul" or "ol" or "input" })
                .Select(n => n.TextContent)).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
            box.SetAttribute("aria-label", words.Length > 0 ? words : "Task");
        }
    }

    /// <summary>The class of the box a table scrolls in, on the site (site.css) and unwrapped for email.</summary>
    public const string TableScrollClass = "table-scroll";
}

public sealed record RenderedMarkdown(string Html, string PlainText);

/// <summary>A link (or an image, <paramref name="Image"/>) whose address the sanitiser removed: its words and the address it had.</summary>
public sealed record RemovedLink(string Label, string Address, bool Image);
