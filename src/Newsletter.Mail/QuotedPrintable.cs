using System.Buffers;

namespace Newsletter.Mail;

/// <summary>
/// Quoted-printable (RFC 2045 6.7) for a part whose bytes already have CRLF line ends. MimeKit's encoder looks
/// at one byte at a time through a filter chain, and in the s1 benchmark (an issue whose HTML lines are too long
/// for 7bit or 8bit) it was the largest single cost of a send: 12 % of the app's CPU samples under perf. Here
/// each run of bytes that stands for itself is copied in one go and only the rest is escaped, so a reader's
/// copy is encoded in one pass with no per-byte calls.
/// </summary>
public static class QuotedPrintable
{
    // Printable ASCII except '=', plus space and tab (which are escaped only at the end of a line).
    private static readonly SearchValues<byte> Literal = SearchValues.Create(
        [.. Enumerable.Range(33, 126 - 33 + 1).Where(b => b != '=').Select(b => (byte)b), (byte)' ', (byte)'\t']);

    // A soft line break is "=" CRLF; the "=" counts toward the 76 characters an encoded line may hold.
    private const int MaxBeforeSoftBreak = 75;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _buffer;

    /// <summary>
    /// Encodes <paramref name="input"/> (every LF preceded by a CR, as <c>WireReady</c> checks): each CRLF stays a
    /// hard line break, every encoded line is at most 76 characters, and decoding gives back the same bytes.
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<byte> input)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(64 * 1024);
        buffer.ResetWrittenCount();
        var start = 0;
        while (true)
        {
            var end = input[start..].IndexOf("\r\n"u8);
            EncodeLine(input[start..(end < 0 ? input.Length : start + end)], buffer);
            if (end < 0)
            {
                break;
            }

            buffer.Write("\r\n"u8);
            start += end + 2;
        }

        var encoded = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > 1024 * 1024)
        {
            _buffer = null; // one huge part should not pin its buffer to the thread for good
        }

        return encoded;
    }

    private static void EncodeLine(ReadOnlySpan<byte> line, ArrayBufferWriter<byte> output)
    {
        var column = 0;
        var i = 0;
        while (i < line.Length)
        {
            var run = line[i..].IndexOfAnyExcept(Literal);
            run = run < 0 ? line.Length - i : run;
            // A space or tab that ends the line would be taken for padding and dropped: it is escaped below.
            if (i + run == line.Length && run > 0 && line[^1] is (byte)' ' or (byte)'\t')
            {
                run--;
            }

            while (run > 0)
            {
                if (column == MaxBeforeSoftBreak)
                {
                    output.Write("=\r\n"u8);
                    column = 0;
                }

                var take = Math.Min(run, MaxBeforeSoftBreak - column);
                output.Write(line.Slice(i, take));
                column += take;
                i += take;
                run -= take;
            }

            if (i == line.Length)
            {
                break;
            }

            if (column + 3 > MaxBeforeSoftBreak)
            {
                output.Write("=\r\n"u8);
                column = 0;
            }

            var escaped = output.GetSpan(3);
            var b = line[i++];
            escaped[0] = (byte)'=';
            escaped[1] = (byte)"0123456789ABCDEF"[b >> 4];
            escaped[2] = (byte)"0123456789ABCDEF"[b & 0xF];
            output.Advance(3);
            column += 3;
        }
    }
}
