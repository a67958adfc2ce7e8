using System.Net;
using System.Text;
using System.Text.Json;

namespace Newsletter.Web.PostsImport;

/// <summary>
/// Ghost keeps a post's body as HTML in most exports, but newer ones may carry only the editor's document
/// (Lexical, or Mobiledoc before it). Those are turned into plain HTML here, covering the common blocks;
/// anything else gives its text, and the result goes through the same HTML-to-Markdown step as every post.
/// </summary>
public static class GhostBodies
{
    public static string LexicalToHtml(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            var sb = new StringBuilder();
            if (doc.RootElement.TryGetProperty("root", out var root))
            {
                LexicalChildren(root, sb);
            }

            return sb.ToString();
        }
        // A node of the wrong kind (an array where an object belongs) throws InvalidOperationException; the post is
        // then imported from its html, or reported empty, instead of failing the whole file.
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentOutOfRangeException or IndexOutOfRangeException or FormatException)
        {
            return "";
        }
    }

    private static void LexicalChildren(JsonElement node, StringBuilder sb)
    {
        if (!node.TryGetProperty("children", out var children) || children.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        foreach (var child in children.EnumerateArray())
        {
            LexicalNode(child, sb);
        }
    }

    private static void LexicalNode(JsonElement n, StringBuilder sb)
    {
        string Str(string name) => n.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";
        void Wrapped(string tag, string attributes = "")
        {
            sb.Append('<').Append(tag).Append(attributes).Append('>');
            LexicalChildren(n, sb);
            sb.Append("</").Append(tag).Append('>');
        }

        switch (Str("type"))
        {
            case "text" or "extended-text":
                var format = n.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.Number ? f.GetInt32() : 0;
                var text = WebUtility.HtmlEncode(Str("text"));
                if ((format & 16) != 0)
                {
                    text = $"<code>{text}</code>";
                }

                if ((format & 2) != 0)
                {
                    text = $"<em>{text}</em>";
                }

                if ((format & 1) != 0)
                {
                    text = $"<strong>{text}</strong>";
                }

                sb.Append(text);
                break;
            case "linebreak":
                sb.Append("<br>");
                break;
            case "paragraph":
                Wrapped("p");
                break;
            case "heading" or "extended-heading":
                Wrapped(Str("tag") is { Length: 2 } h && h[0] == 'h' && h[1] is >= '1' and <= '6' ? h : "h2");
                break;
            case "quote" or "extended-quote" or "aside":
                Wrapped("blockquote");
                break;
            case "list":
                Wrapped(Str("listType") == "number" ? "ol" : "ul");
                break;
            case "listitem":
                Wrapped("li");
                break;
            case "link" or "autolink":
                Wrapped("a", $" href=\"{WebUtility.HtmlEncode(Str("url"))}\"");
                break;
            case "image":
                sb.Append($"<p><img src=\"{WebUtility.HtmlEncode(Str("src"))}\" alt=\"{WebUtility.HtmlEncode(Str("alt") is { Length: > 0 } alt ? alt : Str("altText"))}\"></p>");
                break;
            case "codeblock":
                sb.Append($"<pre><code>{WebUtility.HtmlEncode(Str("code"))}</code></pre>");
                break;
            case "html":
                sb.Append(Str("html"));
                break;
            case "markdown":
                sb.Append(Markdig.Markdown.ToHtml(Str("markdown")));
                break;
            case "horizontalrule":
                sb.Append("<hr>");
                break;
            default:
                LexicalChildren(n, sb);
                break;
        }
    }

    public static string MobiledocToHtml(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            var root = doc.RootElement;
            var markups = Array(root, "markups").Select(m => (Tag: m[0].GetString() ?? "span", Href: m.GetArrayLength() > 1 ? Href(m[1]) : null)).ToList();
            var cards = Array(root, "cards").ToList();
            var sb = new StringBuilder();
            foreach (var section in Array(root, "sections"))
            {
                var kind = section[0].GetInt32();
                if (kind == 10 && section[1].GetInt32() is var card && card < cards.Count)
                {
                    Card(cards[card], sb);
                }
                else if (kind == 1)
                {
                    var tag = (section[1].GetString() ?? "p").ToLowerInvariant();
                    tag = tag is "h1" or "h2" or "h3" or "h4" or "h5" or "h6" or "blockquote" or "aside" ? (tag == "aside" ? "blockquote" : tag) : "p";
                    sb.Append('<').Append(tag).Append('>');
                    Markers(section[2], markups, sb);
                    sb.Append("</").Append(tag).Append('>');
                }
                else if (kind == 3)
                {
                    var tag = section[1].GetString() == "ol" ? "ol" : "ul";
                    sb.Append('<').Append(tag).Append('>');
                    foreach (var item in section[2].EnumerateArray())
                    {
                        sb.Append("<li>");
                        Markers(item, markups, sb);
                        sb.Append("</li>");
                    }

                    sb.Append("</").Append(tag).Append('>');
                }
            }

            return sb.ToString();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentOutOfRangeException or IndexOutOfRangeException or FormatException)
        {
            return "";
        }
    }

    private static void Markers(JsonElement markers, List<(string Tag, string? Href)> markups, StringBuilder sb)
    {
        var open = new Stack<string>();
        foreach (var marker in markers.EnumerateArray())
        {
            foreach (var index in marker[1].EnumerateArray())
            {
                var m = markups[index.GetInt32()];
                var tag = m.Tag.ToLowerInvariant() switch { "a" => "a", "strong" or "b" => "strong", "em" or "i" => "em", "code" => "code", "s" => "s", _ => "span" };
                sb.Append(tag == "a" ? $"<a href=\"{WebUtility.HtmlEncode(m.Href ?? "")}\">" : $"<{tag}>");
                open.Push(tag);
            }

            if (marker[0].GetInt32() == 0)
            {
                sb.Append(WebUtility.HtmlEncode(marker[3].GetString() ?? ""));
            }

            for (var i = marker[2].GetInt32(); i > 0 && open.Count > 0; i--)
            {
                sb.Append("</").Append(open.Pop()).Append('>');
            }
        }

        while (open.Count > 0)
        {
            sb.Append("</").Append(open.Pop()).Append('>');
        }
    }

    private static void Card(JsonElement card, StringBuilder sb)
    {
        var name = card[0].GetString();
        var payload = card[1];
        string Str(string p) => payload.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";
        switch (name)
        {
            case "markdown" or "card-markdown":
                sb.Append(Markdig.Markdown.ToHtml(Str("markdown")));
                break;
            case "html":
                sb.Append(Str("html"));
                break;
            case "image":
                sb.Append($"<p><img src=\"{WebUtility.HtmlEncode(Str("src"))}\" alt=\"{WebUtility.HtmlEncode(Str("alt"))}\"></p>");
                break;
            case "code":
                sb.Append($"<pre><code>{WebUtility.HtmlEncode(Str("code"))}</code></pre>");
                break;
            case "hr":
                sb.Append("<hr>");
                break;
        }
    }

    private static string? Href(JsonElement attributes)
    {
        var list = attributes.EnumerateArray().Select(a => a.GetString()).ToList();
        var i = list.IndexOf("href");
        return i >= 0 && i + 1 < list.Count ? list[i + 1] : null;
    }

    private static IEnumerable<JsonElement> Array(JsonElement e, string name) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().ToList() : [];
}
