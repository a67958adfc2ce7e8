namespace Newsletter.Web.Infrastructure;

/// <summary>
/// What may not be in a one-line value (a subject, a name, a title). char.IsControl misses U+2028 and U+2029, the
/// line and paragraph separators, which text pasted from a word processor or a script can carry: the mail library
/// refuses them in a header, so a subject or a name holding one was saved and then broke every send and preview.
/// </summary>
public static class OneLine
{
    public static bool IsBreak(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';

    public static bool Holds(string? value) => value is null || !value.Any(IsBreak);
}
