using System.Text;
using System.Text.RegularExpressions;

namespace Newsletter.Web.Archive;

/// <summary>
/// A reader's search box input turned into FTS5 syntax that can never be a syntax error: every word or
/// "quoted phrase" becomes one quoted FTS5 string (inner quotes doubled), so AND, OR, NEAR, *, ^, column
/// names and brackets are searched as text instead of being obeyed. All terms must match; the last one may
/// be the start of a word, so results appear while a word is still being typed.
/// </summary>
public sealed partial record SearchQuery(string Text, string Fts, IReadOnlyList<string> Terms, bool Shortened)
{
    public const int MaxLength = 200;

    public const int MaxTerms = 12;

    /// <summary>Null when the input holds nothing searchable (empty, spaces, only punctuation).</summary>
    public static SearchQuery? Parse(string? input)
    {
        var text = (input ?? "").Trim();
        var shortened = false;
        if (text.Length > MaxLength)
        {
            // Never cut a surrogate pair in half: the rest would not be valid UTF-16.
            var cut = char.IsHighSurrogate(text[MaxLength - 1]) ? MaxLength - 1 : MaxLength;
            text = text[..cut];
            shortened = true;
        }

        var terms = new List<(string Term, bool Phrase)>();
        foreach (Match m in TermRegex().Matches(text))
        {
            var phrase = m.Groups["phrase"].Success;
            var term = phrase ? m.Groups["phrase"].Value.Trim() : m.Groups["word"].Value;
            if (!term.Any(char.IsLetterOrDigit))
            {
                continue;
            }

            if (terms.Count == MaxTerms)
            {
                shortened = true;
                break;
            }

            terms.Add((term, phrase));
        }

        if (terms.Count == 0)
        {
            return null;
        }

        var fts = new StringBuilder();
        for (var i = 0; i < terms.Count; i++)
        {
            var (term, phrase) = terms[i];
            if (i > 0)
            {
                fts.Append(' ');
            }

            fts.Append('"').Append(term.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            if (i == terms.Count - 1 && !phrase && char.IsLetterOrDigit(term[^1]))
            {
                fts.Append(" *");
            }
        }

        return new SearchQuery(text, fts.ToString(), [.. terms.Select(t => t.Term)], shortened);
    }

    [GeneratedRegex("\"(?<phrase>[^\"]*)\"|(?<word>[^\\s\"]+)")]
    private static partial Regex TermRegex();
}
