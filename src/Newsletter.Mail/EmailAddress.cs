using System.Globalization;

namespace Newsletter.Mail;

/// <summary>
/// Parses and normalises an address a person typed. Accepts plus-addressing and internationalised domain
/// names (kept in Unicode, validated through their punycode form); rejects anything that could not be
/// delivered or that could smuggle a header (CR, LF, quotes, angle brackets, spaces).
/// </summary>
public static class EmailAddress
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    /// <summary>Normalises <paramref name="input"/> (trimmed, domain lower-cased) or explains what is wrong.</summary>
    public static bool TryNormalize(string input, out string normalized, out string error)
    {
        normalized = "";
        var value = (input ?? "").Trim();
        error = Validate(value, out var local, out var domain) ?? "";
        if (error.Length > 0)
        {
            return false;
        }

        normalized = local + "@" + domain.ToLowerInvariant();
        return true;
    }

    private static string? Validate(string value, out string local, out string domain)
    {
        local = domain = "";
        if (value.Length == 0)
        {
            return "Enter an email address.";
        }

        if (value.Length > 254)
        {
            return "That address is longer than the 254 characters an address may have.";
        }

        foreach (var c in value)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return "An email address can't contain spaces, line breaks or control characters.";
            }

            if (c is '<' or '>' or '"' or '(' or ')' or ',' or ';' or ':' or '[' or ']' or '\\')
            {
                return $"An email address can't contain '{c}'.";
            }
        }

        var at = value.LastIndexOf('@');
        if (at <= 0 || at == value.Length - 1)
        {
            return "An email address needs a name, an @ and a domain, like name@example.org.";
        }

        if (value.IndexOf('@') != at)
        {
            return "An email address has exactly one @.";
        }

        local = value[..at];
        domain = value[(at + 1)..];
        if (local.Length > 64)
        {
            return "The part before the @ is longer than 64 characters.";
        }

        if (local.StartsWith('.') || local.EndsWith('.') || local.Contains("..", StringComparison.Ordinal))
        {
            return "The part before the @ can't start or end with a dot, or have two dots in a row.";
        }

        string ascii;
        try
        {
            ascii = Idn.GetAscii(domain.ToLowerInvariant());
        }
        catch (ArgumentException)
        {
            return $"'{domain}' is not a valid domain.";
        }

        if (!ascii.Contains('.', StringComparison.Ordinal) || ascii.EndsWith('.') || ascii.Length > 253)
        {
            return $"'{domain}' is not a complete domain (it needs a dot, like example.org).";
        }

        foreach (var label in ascii.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.StartsWith('-') || label.EndsWith('-') || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return $"'{domain}' is not a valid domain.";
            }
        }

        if (ascii.Split('.')[^1].All(char.IsAsciiDigit))
        {
            return $"'{domain}' is not a valid domain.";
        }

        return null;
    }
}
