using Microsoft.AspNetCore.Http;

namespace Newsletter.Web.Content;

/// <summary>
/// Markdown that would cost the server seconds to minutes to render, refused before it is rendered. Markdig's link
/// and emphasis parsing and the sanitiser's HTML tree building take time that grows with the square of some
/// shapes no author writes: "[a](" repeated with no space between (40 KB took 23 s of CPU on a loaded machine),
/// thousands of unclosed emphasis openers in one paragraph, HTML elements opened thousands deep. A writer (or a
/// token with write) could send a megabyte of it per request. The limits are far beyond real writing: a note with
/// a thousand links, a long table or a page of code passes. A refusal is a 400 with the sentence (it derives from
/// <see cref="BadHttpRequestException"/>, which the API and the site's error handling answer as the client's fault),
/// and the editors show it on the field.
/// </summary>
public static class MarkdownShape
{
    public const int MaxHtmlDepth = 256;

    public const int MaxLinksInOneWord = 64;

    public const int MaxEmphasisMarksInOneParagraph = 2_000;

    /// <summary>Quotes in quotes, brackets in brackets: Markdig refuses past 128 levels, after seconds of work.</summary>
    public const int MaxNesting = 100;

    public const string Advice = "Nothing was saved; the rest of the text is fine as it is.";

    private static readonly HashSet<string> VoidElements = new(StringComparer.OrdinalIgnoreCase)
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
    };

    private static bool IsListItem(ReadOnlySpan<char> line)
    {
        if (line.Length > 1 && line[0] is '-' or '*' or '+' && line[1] == ' ')
        {
            return true;
        }

        var digits = 0;
        while (digits < line.Length && digits < 9 && char.IsAsciiDigit(line[digits]))
        {
            digits++;
        }

        return digits > 0 && digits + 1 < line.Length && line[digits] is '.' or ')' && line[digits + 1] == ' ';
    }

    /// <summary>Why this text is refused, in a sentence for the author; null when it is fine. One pass, no allocation per character.</summary>
    public static string? TooComplex(string? markdown)
    {
        if (string.IsNullOrEmpty(markdown))
        {
            return null;
        }

        var text = markdown.AsSpan();
        int depth = 0, deepest = 0, linksInWord = 0, mostLinksInWord = 0, marks = 0, mostMarks = 0, brackets = 0, mostBrackets = 0, mostQuotes = 0;
        var fenced = false;
        var lineStart = true;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (lineStart)
            {
                lineStart = false;
                var rest = text[i..].TrimStart(' ');
                var quotes = 0;
                for (var q = 0; q < rest.Length && rest[q] is '>' or ' '; q++)
                {
                    quotes += rest[q] == '>' ? 1 : 0;
                }

                mostQuotes = Math.Max(mostQuotes, quotes);
                if (rest.StartsWith("```") || rest.StartsWith("~~~"))
                {
                    // Code blocks are not parsed for links, emphasis or HTML: their stars and tags are text.
                    fenced = !fenced;
                }
                else if (rest.Length == 0 || rest[0] is '\n' or '\r' || IsListItem(rest))
                {
                    // Emphasis is matched within one paragraph or list item, each parsed on its own; a blank line or
                    // a new item starts the count again. A table's rows are one paragraph to the parser. Brackets too:
                    // a note of intervals, "[0, 1)", must not add up across paragraphs.
                    marks = 0;
                    brackets = 0;
                }
            }

            if (c == '\n')
            {
                lineStart = true;
            }

            if (char.IsWhiteSpace(c))
            {
                linksInWord = 0;
                continue;
            }

            if (fenced)
            {
                continue;
            }

            switch (c)
            {
                case '[':
                    mostBrackets = Math.Max(mostBrackets, ++brackets);
                    break;
                case ']':
                    brackets = Math.Max(0, brackets - 1);
                    if (i + 1 < text.Length && text[i + 1] == '(')
                    {
                        mostLinksInWord = Math.Max(mostLinksInWord, ++linksInWord);
                    }

                    break;
                case '*' or '_' or '~':
                    mostMarks = Math.Max(mostMarks, ++marks);
                    break;
                case '<' when i + 1 < text.Length:
                    var next = text[i + 1];
                    if (next == '/')
                    {
                        depth = Math.Max(0, depth - 1);
                    }
                    else if (char.IsAsciiLetter(next))
                    {
                        var end = i + 1;
                        while (end < text.Length && char.IsAsciiLetterOrDigit(text[end]))
                        {
                            end++;
                        }

                        // <https://…> is an autolink and <br> opens nothing; <x/> closes itself (below). "x<y then" in
                        // prose is no tag: one is closed by '>' on its line, before another '<'.
                        var close = end;
                        while (close < text.Length && text[close] is not ('>' or '<' or '\n'))
                        {
                            close++;
                        }

                        var tag = close < text.Length && text[close] == '>' && (end == close || text[end] is ' ' or '/' or '\t' or '\r');
                        if (tag && text[end] != ':' && !VoidElements.Contains(text[(i + 1)..end].ToString()))
                        {
                            deepest = Math.Max(deepest, ++depth);
                        }
                    }

                    break;
                case '/' when i + 1 < text.Length && text[i + 1] == '>':
                    depth = Math.Max(0, depth - 1);
                    break;
            }
        }

        if (mostQuotes > MaxNesting || mostBrackets > MaxNesting)
        {
            return $"The text nests {(mostQuotes > MaxNesting ? $"quotes {mostQuotes:N0}" : $"brackets {mostBrackets:N0}")} deep (at most {MaxNesting}). {Advice}";
        }

        if (deepest > MaxHtmlDepth)
        {
            return $"The text opens HTML elements {deepest:N0} deep without closing them (at most {MaxHtmlDepth} are rendered): close the tags you open. {Advice}";
        }

        if (mostLinksInWord > MaxLinksInOneWord)
        {
            return $"The text runs {mostLinksInWord:N0} links together with no space between them (at most {MaxLinksInOneWord}): put a space or a line between links. {Advice}";
        }

        return mostMarks > MaxEmphasisMarksInOneParagraph
            ? $"One paragraph holds {mostMarks:N0} '*', '_' and '~' marks (at most {MaxEmphasisMarksInOneParagraph:N0}): split it with blank lines, or put code in a code block. {Advice}"
            : null;
    }
}

/// <summary>Markdown refused by <see cref="MarkdownShape"/> or by Markdig's nesting limit: the client's fault, a 400.</summary>
public sealed class MarkdownTooComplexException(string message, Exception? inner = null) : BadHttpRequestException(message, StatusCodes.Status400BadRequest, inner!);
