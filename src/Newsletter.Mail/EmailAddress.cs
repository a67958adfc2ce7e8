using System.Globalization;

namespace Newsletter.Mail;

/// <summary>
/// Parses and normalises an address a person typed, in the dot-atom form every real mailbox uses.
/// <list type="bullet">
/// <item>Accepted: plus-addressing (<c>ann+news@example.org</c>), the RFC 5322 atext symbols in the local
/// part, internationalised domains (<c>user@bücher.de</c> or its punycode <c>user@xn--bcher-kva.de</c>),
/// and the single-label domain <c>localhost</c> (development senders such as <c>notes@localhost</c>).</item>
/// <item>Rejected, each with a sentence a reader can act on: no @ or several, spaces, control characters
/// (CR and LF could smuggle a header), quotes, angle brackets, comments, IP literals, more than 254
/// characters in all or 64 before the @, leading, trailing or doubled dots, a domain without a dot, bad
/// labels, an all-numeric top-level domain.</item>
/// <item>The domain is normalised to lower-case Unicode through an IDNA round trip, so both spellings
/// of an internationalised domain give the same stored address. Unicode is kept (not punycode) because
/// it is what the reader typed and sees; MailKit and MimeKit write the punycode form on the wire when the
/// server doesn't announce SMTPUTF8.</item>
/// <item>The local part keeps its case: RFC 5321 lets a server treat it as case-sensitive. No real
/// provider does, so the app compares whole addresses case-insensitively (<see cref="Comparer"/>):
/// Ann@example.org and ann@example.org are one reader.</item>
/// <item>Quoted local parts (<c>"a b"@example.org</c>) and non-ASCII local parts are refused: they are
/// legal, but too few servers deliver them for a newsletter to accept a subscription it can't keep.</item>
/// </list>
/// </summary>
public static class EmailAddress
{
    /// <summary>
    /// Top-level names that never reach the public internet (RFC 2606, RFC 6761, RFC 6762, RFC 7686, RFC 8375,
    /// ICANN's .internal) and the ones private networks commonly use.
    /// </summary>
    private static readonly HashSet<string> PrivateTopLevels = new(StringComparer.Ordinal)
    {
        "localhost", "local", "localdomain", "internal", "intranet", "lan", "home", "corp", "private", "test", "invalid", "example", "onion", "arpa",
    };

    /// <summary>
    /// Whether a normalised address (<see cref="TryNormalize"/>) is on a domain the public internet can reach.
    /// The public subscribe form asks this too: root@localhost or an .internal address is valid mail syntax,
    /// but a stranger typing one only makes this server mail itself or its own network.
    /// </summary>
    public static bool IsPublicDomain(string normalizedAddress)
    {
        var domain = normalizedAddress[(normalizedAddress.LastIndexOf('@') + 1)..];
        return domain.Contains('.', StringComparison.Ordinal) && !PrivateTopLevels.Contains(domain[(domain.LastIndexOf('.') + 1)..]);
    }

    /// <summary>The longest address SMTP can carry (RFC 5321's 256-octet path less the angle brackets).</summary>
    public const int MaxLength = 254;

    /// <summary>The longest local part (RFC 5321 4.5.3.1.1).</summary>
    public const int MaxLocalLength = 64;

    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    /// <summary>How addresses are compared: case-insensitively, see the class remarks.</summary>
    public static StringComparer Comparer => StringComparer.OrdinalIgnoreCase;

    /// <summary>Whether two normalised addresses name the same mailbox.</summary>
    public static bool AreSame(string a, string b) => Comparer.Equals(a, b);

    /// <summary>
    /// Normalises <paramref name="input"/> (surrounding spaces and tabs trimmed, domain lower-case Unicode)
    /// or explains in <paramref name="error"/> what is wrong with it.
    /// </summary>
    /// <returns>Whether the address is valid; <paramref name="normalized"/> is empty when it is not.</returns>
    public static bool TryNormalize(string input, out string normalized, out string error)
    {
        normalized = "";
        error = Validate((input ?? "").Trim(' ', '\t'), out var local, out var domain) ?? "";
        if (error.Length > 0)
        {
            return false;
        }

        normalized = local + "@" + domain;
        return true;
    }

    /// <summary>The normalised address, or an <see cref="ArgumentException"/> with the reason.</summary>
    public static string Normalize(string input) =>
        TryNormalize(input, out var normalized, out var error) ? normalized : throw new ArgumentException($"'{input}' is not a valid email address: {error}", nameof(input));

    private static string? Validate(string value, out string local, out string domain)
    {
        local = domain = "";
        if (value.Length == 0)
        {
            return "Enter an email address.";
        }

        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                return "An email address can't contain line breaks or control characters.";
            }

            if (char.IsWhiteSpace(c))
            {
                return "An email address can't contain spaces.";
            }

            if (c is '<' or '>' or '"' or '(' or ')' or ',' or ';' or ':' or '[' or ']' or '\\')
            {
                return $"An email address can't contain '{c}'.";
            }
        }

        var at = value.IndexOf('@');
        if (at < 0)
        {
            return "An email address needs an @ between the name and the domain, like name@example.org.";
        }

        if (value.IndexOf('@', at + 1) >= 0)
        {
            return "An email address has exactly one @.";
        }

        if (at == 0)
        {
            return "The part before the @ is missing.";
        }

        if (at == value.Length - 1)
        {
            return "The domain after the @ is missing.";
        }

        local = value[..at];
        var typedDomain = value[(at + 1)..];
        if (local.Length > MaxLocalLength)
        {
            return $"The part before the @ is longer than the {MaxLocalLength} characters it may have.";
        }

        if (local.StartsWith('.') || local.EndsWith('.') || local.Contains("..", StringComparison.Ordinal))
        {
            return "The part before the @ can't start or end with a dot, or have two dots in a row.";
        }

        foreach (var c in local)
        {
            if (!IsAtext(c) && c != '.')
            {
                return c > 127
                    ? "The part before the @ can only use ASCII letters, digits and . ! # $ % & ' * + - / = ? ^ _ ` { | } ~ (many mail servers can't deliver to other characters)."
                    : $"The part before the @ can't contain '{c}'.";
            }
        }

        var domainError = NormalizeDomain(typedDomain, out domain, out var ascii);
        if (domainError is not null)
        {
            return domainError;
        }

        // The limit is on what goes over the wire, where an internationalised domain travels as punycode.
        if (local.Length + 1 + ascii.Length > MaxLength)
        {
            return $"That address is longer than the {MaxLength} characters an address may have.";
        }

        return null;
    }

    private static string? NormalizeDomain(string typed, out string unicode, out string ascii)
    {
        unicode = ascii = "";
        if (typed.StartsWith('.') || typed.EndsWith('.') || typed.Contains("..", StringComparison.Ordinal))
        {
            return $"The domain '{typed}' can't start or end with a dot, or have two dots in a row.";
        }

        if (IsPlainAscii(typed))
        {
            // Nothing for IDNA to map: lower-casing is all it would do, and the label rules below check the
            // rest. Skipping the round trip matters to a million-row import, where it was the costliest step.
            ascii = unicode = typed.ToLowerInvariant();
        }
        else
        {
            try
            {
                ascii = Idn.GetAscii(typed).ToLowerInvariant();
                unicode = Idn.GetUnicode(ascii);
            }
            catch (ArgumentException)
            {
                return $"'{typed}' is not a valid domain.";
            }
        }

        if (ascii == "localhost")
        {
            return null;
        }

        if (!ascii.Contains('.', StringComparison.Ordinal))
        {
            return $"The domain '{typed}' is incomplete: it needs a dot, like example.org.";
        }

        if (ascii.Length > 253)
        {
            return $"The domain '{typed}' is too long.";
        }

        var labels = ascii.Split('.');
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63 || label.StartsWith('-') || label.EndsWith('-') || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return $"'{typed}' is not a valid domain.";
            }
        }

        if (labels[^1].All(char.IsAsciiDigit))
        {
            // 192.168.1.1 would pass the label rules; mail to bare IPs is refused.
            return $"'{typed}' is not a valid domain.";
        }

        return null;
    }

    /// <summary>
    /// ASCII letters, digits, hyphens and dots only, and no label with hyphens in its third and fourth
    /// places (xn-- punycode to decode, or a label IDNA refuses): those still go through IdnMapping.
    /// </summary>
    private static bool IsPlainAscii(string domain) =>
        domain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.')
        // Such a label always contains "--": only then is the domain split into labels.
        && !(domain.Contains("--", StringComparison.Ordinal) && domain.Split('.').Any(label => label.Length >= 4 && label[2] == '-' && label[3] == '-'));

    private static bool IsAtext(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '/' or '=' or '?' or '^' or '_' or '`' or '{' or '|' or '}' or '~';
}
