using System.Collections;
using System.Globalization;
using System.Net;
using System.Text;

namespace Newsletter.Mail;

/// <summary>A value that is already HTML (a rendered body) and must not be encoded again.</summary>
public sealed record RawHtml(string Value)
{
    /// <inheritdoc />
    public override string ToString() => Value;
}

/// <summary>
/// A strict subset of Liquid, enough for email templates, written here because the registry this project
/// builds from holds Fluid.Core 2.41.1 only with Parlot 2.2.1, a combination that fails at run time
/// (MissingMethodException). Supported: {{ a.b.c }} with filters raw, escape, default: "x", upcase,
/// downcase, strip; {% if %} / {% elsif %} / {% else %} / {% endif %} with ==, !=, blank, empty, and, or;
/// {% unless %}; {% comment %}; whitespace control with {%- -%} and {{- -}}. Anything else is a parse
/// error that names the line, so a template never fails silently.
/// </summary>
public sealed class LiquidTemplate
{
    private readonly List<Node> _nodes;

    private LiquidTemplate(List<Node> nodes) => _nodes = nodes;

    /// <summary>Parses a template or throws FormatException naming the line.</summary>
    public static LiquidTemplate Parse(string source)
    {
        var tokens = Tokenize(source);
        var index = 0;
        var nodes = ParseBlock(tokens, ref index, []);
        if (index < tokens.Count)
        {
            throw Error(tokens[index], $"unexpected '{tokens[index].Text}'");
        }

        return new LiquidTemplate(nodes);
    }

    /// <summary>Renders with variables from <paramref name="model"/>; <paramref name="html"/> encodes output unless raw.</summary>
    public string Render(IDictionary<string, object?> model, bool html)
    {
        var sb = new StringBuilder();
        Render(_nodes, model, html, sb);
        return sb.ToString();
    }

    private static void Render(List<Node> nodes, IDictionary<string, object?> model, bool html, StringBuilder sb)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode t:
                    sb.Append(t.Text);
                    break;
                case OutputNode o:
                    sb.Append(Output(o, model, html));
                    break;
                case IfNode i:
                    foreach (var (condition, body) in i.Branches)
                    {
                        if (condition is null || Evaluate(condition, model))
                        {
                            Render(body, model, html, sb);
                            break;
                        }
                    }

                    break;
            }
        }
    }

    private static string Output(OutputNode o, IDictionary<string, object?> model, bool html)
    {
        var value = Resolve(o.Expression, model);
        var raw = value is RawHtml;
        var text = value switch
        {
            null => "",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
        foreach (var (name, argument) in o.Filters)
        {
            switch (name)
            {
                case "raw":
                    raw = true;
                    break;
                case "escape":
                    text = WebUtility.HtmlEncode(text);
                    raw = true;
                    break;
                case "default":
                    if (string.IsNullOrEmpty(text))
                    {
                        text = Literal(argument) ?? "";
                    }

                    break;
                case "upcase":
                    text = text.ToUpperInvariant();
                    break;
                case "downcase":
                    text = text.ToLowerInvariant();
                    break;
                case "strip":
                    text = text.Trim();
                    break;
            }
        }

        return html && !raw ? WebUtility.HtmlEncode(text) : text;
    }

    private static bool Evaluate(string condition, IDictionary<string, object?> model)
    {
        foreach (var or in Split(condition, " or "))
        {
            if (Split(or, " and ").All(part => Compare(part.Trim(), model)))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Compare(string expression, IDictionary<string, object?> model)
    {
        foreach (var op in new[] { "!=", "==" })
        {
            var at = expression.IndexOf(op, StringComparison.Ordinal);
            if (at > 0)
            {
                var left = Value(expression[..at].Trim(), model);
                var rightText = expression[(at + 2)..].Trim();
                bool equal;
                if (rightText is "blank" or "empty")
                {
                    equal = IsBlank(left);
                }
                else
                {
                    var right = Value(rightText, model);
                    equal = string.Equals(Stringify(left), Stringify(right), StringComparison.Ordinal);
                }

                return op == "==" ? equal : !equal;
            }
        }

        return !IsBlank(Value(expression, model)) && Value(expression, model) is not false;
    }

    private static object? Value(string expression, IDictionary<string, object?> model) =>
        Literal(expression) is { } literal ? literal : expression is "true" ? true : expression is "false" ? false : Resolve(expression, model);

    private static string? Literal(string? text)
    {
        if (text is { Length: >= 2 } && (text[0] is '"' or '\'') && text[^1] == text[0])
        {
            return text[1..^1];
        }

        return text is not null && decimal.TryParse(text, NumberStyles.Number, CultureInfo.InvariantCulture, out _) ? text : null;
    }

    private static bool IsBlank(object? value) => value switch
    {
        null => true,
        string s => string.IsNullOrWhiteSpace(s),
        RawHtml r => string.IsNullOrWhiteSpace(r.Value),
        ICollection c => c.Count == 0,
        _ => false,
    };

    private static string Stringify(object? value) => value switch
    {
        null => "",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static object? Resolve(string path, IDictionary<string, object?> model)
    {
        object? current = model;
        foreach (var part in path.Split('.'))
        {
            current = current switch
            {
                IDictionary<string, object?> d => d.TryGetValue(part, out var v) ? v : null,
                IDictionary d => d.Contains(part) ? d[part] : null,
                _ => null,
            };
            if (current is null)
            {
                return null;
            }
        }

        return current;
    }

    private static List<string> Split(string text, string separator) => [.. text.Split(separator, StringSplitOptions.None)];

    private static List<Node> ParseBlock(List<Token> tokens, ref int index, HashSet<string> terminators)
    {
        var nodes = new List<Node>();
        while (index < tokens.Count)
        {
            var token = tokens[index];
            if (token.Kind == TokenKind.Text)
            {
                nodes.Add(new TextNode(token.Text));
                index++;
                continue;
            }

            if (token.Kind == TokenKind.Output)
            {
                nodes.Add(ParseOutput(token));
                index++;
                continue;
            }

            var word = token.Text.Split(' ', 2)[0];
            if (terminators.Contains(word))
            {
                return nodes;
            }

            index++;
            switch (word)
            {
                case "comment":
                    while (index < tokens.Count && !(tokens[index].Kind == TokenKind.Tag && tokens[index].Text == "endcomment"))
                    {
                        index++;
                    }

                    if (index >= tokens.Count)
                    {
                        throw Error(token, "'comment' is never closed by 'endcomment'");
                    }

                    index++;
                    break;
                case "if":
                case "unless":
                    nodes.Add(ParseIf(tokens, ref index, token, word == "unless"));
                    break;
                case "elsif" or "else" or "endif" or "endunless" or "endcomment":
                    throw Error(token, $"unexpected '{word}' without a matching opening tag");
                default:
                    throw Error(token, $"the tag '{word}' is not supported in email templates (supported: if, elsif, else, unless, comment)");
            }
        }

        // Running out inside a block is reported by the block's opener, which knows its line.
        return nodes;
    }

    private static IfNode ParseIf(List<Token> tokens, ref int index, Token start, bool negate)
    {
        var branches = new List<(string?, List<Node>)>();
        var condition = start.Text.Split(' ', 2) is { Length: 2 } parts ? parts[1].Trim() : throw Error(start, "'if' needs a condition");
        if (negate)
        {
            condition = Negate(condition);
        }

        var endTag = negate ? "endunless" : "endif";
        while (true)
        {
            var body = ParseBlock(tokens, ref index, ["elsif", "else", endTag]);
            branches.Add((condition, body));
            if (index >= tokens.Count)
            {
                throw Error(start, $"'{(negate ? "unless" : "if")}' is never closed by '{{% {endTag} %}}'");
            }

            var tag = tokens[index++];
            var word = tag.Text.Split(' ', 2)[0];
            if (word == endTag)
            {
                return new IfNode(branches);
            }

            condition = word == "else" ? null : tag.Text.Split(' ', 2) is { Length: 2 } p ? p[1].Trim() : throw Error(tag, "'elsif' needs a condition");
        }
    }

    private static string Negate(string condition) =>
        condition.Contains("!=", StringComparison.Ordinal) ? condition.Replace("!=", "==", StringComparison.Ordinal)
        : condition.Contains("==", StringComparison.Ordinal) ? condition.Replace("==", "!=", StringComparison.Ordinal)
        : condition + " == blank";

    private static OutputNode ParseOutput(Token token)
    {
        var parts = token.Text.Split('|');
        var expression = parts[0].Trim();
        if (expression.Length == 0 || !expression.All(c => char.IsLetterOrDigit(c) || c is '_' or '.' or '-'))
        {
            throw Error(token, $"'{{{{ {token.Text} }}}}' is not a variable");
        }

        var filters = new List<(string, string?)>();
        foreach (var f in parts.Skip(1))
        {
            var pieces = f.Split(':', 2);
            var name = pieces[0].Trim();
            if (name is not ("raw" or "escape" or "default" or "upcase" or "downcase" or "strip"))
            {
                throw Error(token, $"the filter '{name}' is not supported (supported: raw, escape, default, upcase, downcase, strip)");
            }

            filters.Add((name, pieces.Length > 1 ? pieces[1].Trim() : null));
        }

        return new OutputNode(expression, filters);
    }

    private static List<Token> Tokenize(string source)
    {
        var tokens = new List<Token>();
        var i = 0;
        var line = 1;
        var trimNextText = false;
        while (i < source.Length)
        {
            var open = IndexOfOpen(source, i);
            if (open < 0)
            {
                AddText(source[i..]);
                break;
            }

            AddText(source[i..open]);
            var isTag = source[open + 1] == '%';
            var close = source.IndexOf(isTag ? "%}" : "}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                throw new FormatException($"line {line}: '{source.Substring(open, 2)}' is never closed");
            }

            var inner = source[(open + 2)..close];
            var trimBefore = inner.StartsWith('-');
            var trimAfter = inner.EndsWith('-');
            inner = inner.Trim('-').Trim();
            if (trimBefore && tokens.Count > 0 && tokens[^1].Kind == TokenKind.Text)
            {
                tokens[^1] = tokens[^1] with { Text = tokens[^1].Text.TrimEnd() };
            }

            tokens.Add(new Token(isTag ? TokenKind.Tag : TokenKind.Output, inner, line));
            line += source.AsSpan(open, close + 2 - open).Count('\n');
            trimNextText = trimAfter;
            i = close + 2;
        }

        return tokens;

        void AddText(string text)
        {
            if (trimNextText)
            {
                text = text.TrimStart();
                trimNextText = false;
            }

            if (text.Length > 0)
            {
                tokens.Add(new Token(TokenKind.Text, text, line));
            }

            line += text.Count(c => c == '\n');
        }
    }

    private static int IndexOfOpen(string source, int from)
    {
        var a = source.IndexOf("{{", from, StringComparison.Ordinal);
        var b = source.IndexOf("{%", from, StringComparison.Ordinal);
        return a < 0 ? b : b < 0 ? a : Math.Min(a, b);
    }

    private static FormatException Error(Token token, string message) => new($"line {token.Line}: {message}");

    private enum TokenKind
    {
        Text,
        Output,
        Tag,
    }

    private sealed record Token(TokenKind Kind, string Text, int Line);

    private abstract record Node;

    private sealed record TextNode(string Text) : Node;

    private sealed record OutputNode(string Expression, List<(string Name, string? Argument)> Filters) : Node;

    private sealed record IfNode(List<(string? Condition, List<Node> Body)> Branches) : Node;
}
