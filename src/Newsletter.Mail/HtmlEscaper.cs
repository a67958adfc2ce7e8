using System.Net;
using System.Text.Encodings.Web;

namespace Newsletter.Mail;

/// <summary>
/// Encodes template output for HTML exactly as <see cref="WebUtility.HtmlEncode(string)"/> does: &lt; &gt; &amp; "
/// and ' as entities, and Latin-1 letters and characters outside the BMP as numeric references. That is also
/// what Liquid's <c>escape</c> filter and the per-reader fill of an issue (a reader's name, their address) use,
/// so one name is encoded one way in every email. <see cref="HtmlEncoder.Default"/> would turn every non-ASCII
/// letter into a reference and a quote into <c>&amp;#x27;</c>: valid, but not the bytes readers got so far.
/// </summary>
internal sealed class HtmlEscaper : TextEncoder
{
    private HtmlEscaper()
    {
    }

    public static HtmlEscaper Instance { get; } = new();

    /// <summary>"&amp;#1114111;" for the highest code point.</summary>
    public override int MaxOutputCharactersPerInputCharacter => 10;

    // Fluid writes every output through this overload; the others are here so any TextEncoder caller agrees.
    public override string Encode(string value) => WebUtility.HtmlEncode(value);

    public override void Encode(TextWriter output, string value, int startIndex, int characterCount) =>
        output.Write(WebUtility.HtmlEncode(value.Substring(startIndex, characterCount)));

    public override void Encode(TextWriter output, char[] value, int startIndex, int characterCount) =>
        output.Write(WebUtility.HtmlEncode(new string(value, startIndex, characterCount)));

    public override bool WillEncode(int unicodeScalar) =>
        unicodeScalar is '<' or '>' or '&' or '"' or '\'' or (>= 160 and < 256) or > 0xFFFF;

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        var span = new ReadOnlySpan<char>(text, textLength);
        for (var i = 0; i < span.Length; i++)
        {
            if (char.IsSurrogate(span[i]) || WillEncode(span[i]))
            {
                return i;
            }
        }

        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        var encoded = WillEncode(unicodeScalar) ? WebUtility.HtmlEncode(char.ConvertFromUtf32(unicodeScalar)) : char.ConvertFromUtf32(unicodeScalar);
        if (encoded.Length > bufferLength)
        {
            numberOfCharactersWritten = 0;
            return false;
        }

        encoded.AsSpan().CopyTo(new Span<char>(buffer, bufferLength));
        numberOfCharactersWritten = encoded.Length;
        return true;
    }
}
