using System.Text;
using System.Text.RegularExpressions;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using MimeKit;

namespace Newsletter.Web.Replies;

/// <summary>A run of a reply's lines: what the reader wrote, or what they quoted (folded on the page).</summary>
public sealed record ReplySegment(bool Quoted, string Text);

/// <summary>
/// A reply as text. Every reply is stored and shown as text, never as the sender's HTML: an HTML-only reply is
/// turned into text here (blockquotes become "&gt;" lines), so no markup, style or tracking pixel of a stranger's
/// ever reaches the admin's page or the site.
/// </summary>
public static partial class ReplyText
{
    public static (string Text, string? Note) Of(MimeMessage message, int maxChars)
    {
        var notes = new List<string>();
        var text = message.TextBody;
        if (text is null && message.HtmlBody is { } html)
        {
            text = FromHtml(html);
            notes.Add("sent as HTML, shown as text");
        }

        text = Clean(text ?? "");
        if (text.Length > maxChars)
        {
            notes.Add($"cut at {maxChars / 1024} KB of text; the message had {text.Length / 1024:N0} KB");
            text = text[..maxChars];
        }

        var attachments = message.Attachments.Count();
        if (attachments > 0)
        {
            notes.Add(attachments == 1 ? "1 attachment not kept" : $"{attachments} attachments not kept");
        }

        return (text, notes.Count == 0 ? null : string.Join("; ", notes));
    }

    /// <summary>One line, no control characters, at most <paramref name="max"/> characters: safe for a header and a page.</summary>
    public static string OneLine(string? value, int max)
    {
        var cleaned = Whitespace().Replace(new string([.. (value ?? "").Select(c => char.IsControl(c) || c is '\u2028' or '\u2029' or '\u0085' ? ' ' : c)]), " ").Trim();
        return cleaned.Length > max ? cleaned[..max] : cleaned;
    }

    /// <summary>The reader's own words and the quoted runs, in order.</summary>
    public static IReadOnlyList<ReplySegment> Segments(string text)
    {
        var lines = text.Split('\n');
        var quoted = new bool[lines.Length];
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith('>'))
            {
                quoted[i] = true;
            }
            else if (OriginalMessage().IsMatch(lines[i]))
            {
                // Outlook and friends quote without ">" under a separator: everything below is the old mail.
                for (var j = i; j < lines.Length; j++)
                {
                    quoted[j] = true;
                }

                break;
            }
        }

        // "On Tue, Ada wrote:" (and its German and French cousins), possibly over two lines, belongs to the quote below it.
        for (var i = 0; i < lines.Length; i++)
        {
            if (!quoted[i] && Attribution().IsMatch(lines[i]) && NextQuoted(i))
            {
                quoted[i] = true;
                if (i > 0 && !quoted[i - 1] && lines[i - 1].Trim().Length > 0 && !lines[i - 1].TrimEnd().EndsWith('.') && lines[i - 1].TrimStart().StartsWith("On ", StringComparison.Ordinal))
                {
                    quoted[i - 1] = true;
                }
            }
        }

        var segments = new List<ReplySegment>();
        var run = new StringBuilder();
        var current = false;
        for (var i = 0; i < lines.Length; i++)
        {
            if (quoted[i] != current && run.Length > 0)
            {
                Add();
            }

            current = quoted[i];
            run.Append(lines[i]).Append('\n');
        }

        Add();
        return segments;

        bool NextQuoted(int i)
        {
            for (var j = i + 1; j < lines.Length; j++)
            {
                if (lines[j].Trim().Length > 0)
                {
                    return quoted[j];
                }
            }

            return false;
        }

        void Add()
        {
            var t = run.ToString().Trim('\n');
            if (t.Trim().Length > 0)
            {
                segments.Add(new ReplySegment(current, t));
            }

            run.Clear();
        }
    }

    /// <summary>What the reader wrote, without quotes or signature: the starting point of a published comment.</summary>
    public static string OwnWords(string text)
    {
        var own = string.Join("\n\n", Segments(text).Where(s => !s.Quoted).Select(s => s.Text));
        var signature = own.IndexOf("\n-- \n", StringComparison.Ordinal);
        return (signature >= 0 ? own[..signature] : own).Trim();
    }

    /// <summary>Paragraphs of plain text, for a page that shows a comment.</summary>
    public static IEnumerable<string> Paragraphs(string text) =>
        BlankLines().Split(text.Replace("\r", "", StringComparison.Ordinal)).Select(p => p.Trim()).Where(p => p.Length > 0);

    private static string Clean(string text) =>
        new([.. text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n').Where(c => c is '\n' or '\t' || !char.IsControl(c))]);

    public static string FromHtml(string html)
    {
        var document = new HtmlParser().ParseDocument(html);
        var text = new StringBuilder();
        Walk(document.Body ?? (INode)document, text);
        return ExtraBlankLines().Replace(text.ToString(), "\n\n").Trim();
    }

    private static void Walk(INode node, StringBuilder text)
    {
        foreach (var child in node.ChildNodes)
        {
            switch (child)
            {
                case IText t:
                    text.Append(Whitespace().Replace(t.Data, " "));
                    break;
                case IElement e when e.LocalName is "script" or "style" or "head" or "title" or "template":
                    break;
                case IElement e when e.LocalName == "br":
                    text.Append('\n');
                    break;
                case IElement e when e.LocalName == "blockquote":
                    var inner = new StringBuilder();
                    Walk(e, inner);
                    text.Append('\n');
                    foreach (var line in ExtraBlankLines().Replace(inner.ToString(), "\n\n").Trim().Split('\n'))
                    {
                        text.Append("> ").Append(line.TrimEnd()).Append('\n');
                    }

                    text.Append('\n');
                    break;
                case IElement e when e.LocalName is "p" or "div" or "li" or "tr" or "h1" or "h2" or "h3" or "h4" or "h5" or "h6" or "pre" or "table" or "ul" or "ol":
                    text.Append('\n');
                    Walk(e, text);
                    text.Append(e.LocalName is "p" ? "\n\n" : "\n");
                    break;
                default:
                    Walk(child, text);
                    break;
            }
        }
    }

    [GeneratedRegex(@"^\s*(-{2,}\s*Original Message\s*-{2,}|_{20,}\s*$|-{2,}\s*Ursprüngliche Nachricht\s*-{2,})", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex OriginalMessage();

    [GeneratedRegex(@"(wrote|schrieb|a écrit|escribió)\s*:\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Attribution();

    [GeneratedRegex(@"[ \t\u00a0]+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"\n[ \t]*\n(\s*\n)+")]
    private static partial Regex ExtraBlankLines();

    [GeneratedRegex(@"\n\s*\n")]
    private static partial Regex BlankLines();
}
