using System.Text;
using MimeKit;
using MimeKit.Encodings;

namespace Newsletter.Mail.Tests;

public class QuotedPrintableTests
{
    public static TheoryData<string> Inputs => new()
    {
        "",
        "plain ascii line",
        "a = sign, and =3D already escaped",
        "trailing space \r\ntrailing tab\t\r\n \r\n\t",
        "Grüße — “quoted” and emoji 🙂 in UTF-8",
        new string('x', 75) + "\r\n" + new string('x', 76) + "\r\n" + new string('x', 77) + "\r\n" + new string('y', 400),
        new string('é', 60) + "\r\n" + new string(' ', 150) + "end",
        "<p>" + string.Concat(Enumerable.Repeat("A long paragraph with <a href=\"https://example.org/a?b=c&d=e\">a link</a> — and punctuation. ", 20)) + "</p>\r\n",
        ".a line that starts with a dot\r\nFrom the start of a line\r\n\r\n\r\n",
        "lone\rcarriage return and control \u0001\u007f bytes",
        new string('x', 74) + "é" + new string('x', 74) + " \r\n",
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void DecodesBackToTheSameBytesWithinTheLineLimit(string text)
    {
        var input = Encoding.UTF8.GetBytes(text);
        AssertValid(input, QuotedPrintable.Encode(input));
    }

    [Fact]
    public void RandomBytesWithCrlfLineEndsRoundTrip()
    {
        var random = new Random(20261203);
        for (var n = 0; n < 500; n++)
        {
            var lines = Enumerable.Range(0, random.Next(1, 8)).Select(_ =>
            {
                var line = new byte[random.Next(0, 300)];
                random.NextBytes(line);
                // Mostly text, like a real part: printable ASCII and spaces with some high bytes.
                for (var i = 0; i < line.Length; i++)
                {
                    line[i] = random.Next(10) switch
                    {
                        < 6 => (byte)random.Next(33, 127),
                        < 8 => (byte)' ',
                        8 => (byte)'=',
                        _ => line[i] is (byte)'\n' ? (byte)'x' : line[i],
                    };
                }

                return line;
            });
            var input = lines.Aggregate(Array.Empty<byte>(), (all, line) => all.Length == 0 ? line : [.. all, (byte)'\r', (byte)'\n', .. line]);
            if (input.AsSpan().Count((byte)'\n') != input.AsSpan().Count("\r\n"u8))
            {
                continue; // a random CR before an LF that ends the line is fine; a stray LF is not this encoder's input
            }

            AssertValid(input, QuotedPrintable.Encode(input));
        }
    }

    [Fact]
    public void AQuotedPrintablePartIsEncodedOnceAndArrivesAsTheSameText()
    {
        var html = string.Concat(Enumerable.Repeat("<p>Grüße — a paragraph far longer than any line a relay should see, with = signs and “quotes”.</p>", 30)) + "\r\n<p>end </p>";
        var text = "Grüße\r\n" + new string('w', 900) + " \r\n";
        var message = TestMail.Build(TestMail.Issue() with
        {
            HtmlUtf8 = Encoding.UTF8.GetBytes(html),
            TextUtf8 = Encoding.UTF8.GetBytes(text),
            HtmlEncoding = ContentEncoding.QuotedPrintable,
            TextEncoding = ContentEncoding.QuotedPrintable,
        });

        using var wire = new MemoryStream();
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        message.WriteTo(options, wire, TestContext.Current.CancellationToken);
        Assert.All(Encoding.ASCII.GetString(wire.ToArray()).Split("\r\n"), line => Assert.True(line.Length <= 998, line));
        wire.Position = 0;
        var received = MimeMessage.Load(wire, TestContext.Current.CancellationToken);
        // MimeKit hands a parsed part's text back with LF line ends, whichever path wrote it.
        Assert.Equal(html.ReplaceLineEndings("\n"), received.HtmlBody);
        Assert.Equal(text.ReplaceLineEndings("\n"), received.TextBody);
        Assert.All(received.BodyParts.OfType<TextPart>(), p => Assert.Equal(ContentEncoding.QuotedPrintable, p.ContentTransferEncoding));
    }

    private static void AssertValid(byte[] input, byte[] encoded)
    {
        var lines = Encoding.ASCII.GetString(encoded).Split("\r\n");
        foreach (var line in lines)
        {
            Assert.True(line.Length <= 76, $"{line.Length} characters: {line}");
            Assert.DoesNotMatch("[ \t]$", line);
            Assert.All(line, c => Assert.True(c is '\t' or (>= ' ' and <= '~'), $"byte {(int)c} on the wire"));
            Assert.DoesNotMatch("=(?![0-9A-F]{2}|$)", line);
        }

        var decoder = new QuotedPrintableDecoder();
        var decoded = new byte[decoder.EstimateOutputLength(encoded.Length)];
        var length = decoder.Decode(encoded, 0, encoded.Length, decoded);
        Assert.Equal(Convert.ToHexString(input), Convert.ToHexString(decoded, 0, length));
    }
}
