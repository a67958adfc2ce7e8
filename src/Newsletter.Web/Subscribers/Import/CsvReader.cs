using System.Text;

namespace Newsletter.Web.Subscribers.Import;

/// <summary>One CSV record and the line it started on, or the reason it could not be read.</summary>
public readonly record struct CsvRecord(int Line, string[] Fields, string? Error);

/// <summary>
/// A streaming RFC 4180 reader: quoted fields with delimiters, quotes ("") and newlines inside, CRLF or LF,
/// a BOM, and comma, semicolon, tab or pipe as the delimiter (guessed from the header line). It holds one
/// record in memory, never the file; a record longer than MaxRecordLength comes back as an error and is
/// skipped to its end without being held, so the records after it are still read. Line numbers count from
/// <paramref name="firstLine"/>, the file line the reader starts on, so they are the lines an editor shows.
/// </summary>
public sealed class CsvReader(TextReader reader, char delimiter, int firstLine = 1)
{
    public const int MaxRecordLength = 64 * 1024;

    private readonly StringBuilder _field = new();
    private int _line = firstLine;
    private int _peeked = -2;

    public char Delimiter => delimiter;

    /// <summary>
    /// Set when the file ended inside a quoted field: everything from the quote on was read as that one field,
    /// so the records after its line were never seen. A reader can't tell them apart (a quoted field may hold
    /// newlines), so the import must say so rather than report the file as read.
    /// </summary>
    public string? UnreadFrom { get; private set; }

    /// <summary>Guesses the delimiter from the first line: the candidate that occurs most often outside quotes.</summary>
    public static char Detect(string headerLine)
    {
        var candidates = new[] { ',', ';', '\t', '|' };
        var counts = new int[candidates.Length];
        var quoted = false;
        foreach (var c in headerLine)
        {
            if (c == '"')
            {
                quoted = !quoted;
            }
            else if (!quoted)
            {
                var i = Array.IndexOf(candidates, c);
                if (i >= 0)
                {
                    counts[i]++;
                }
            }
        }

        var best = Array.IndexOf(counts, counts.Max());
        return counts[best] == 0 ? ',' : candidates[best];
    }

    public IEnumerable<CsvRecord> Records()
    {
        while (true)
        {
            var start = _line;
            var fields = new List<string>();
            var length = 0;
            var quoted = false;
            var fieldWasQuoted = false;
            _field.Clear();
            int c;
            string? error = null;
            while (true)
            {
                c = Read();
                if (c == -1)
                {
                    if (quoted)
                    {
                        error = Unclosed(start);
                    }

                    break;
                }

                if (++length > MaxRecordLength)
                {
                    c = SkipRestOfRecord(c, quoted);
                    error = c == -2
                        ? Unclosed(start)
                        : $"the record starting on line {start} is longer than {MaxRecordLength / 1024} KB";
                    break;
                }

                var ch = (char)c;
                if (quoted)
                {
                    if (ch == '"')
                    {
                        if (Peek() == '"')
                        {
                            Read();
                            _field.Append('"');
                        }
                        else
                        {
                            quoted = false;
                        }
                    }
                    else
                    {
                        if (ch == '\n')
                        {
                            _line++;
                        }

                        _field.Append(ch);
                    }
                }
                else if (ch == '"' && _field.Length == 0 && !fieldWasQuoted)
                {
                    quoted = true;
                    fieldWasQuoted = true;
                }
                else if (ch == delimiter)
                {
                    fields.Add(_field.ToString());
                    _field.Clear();
                    fieldWasQuoted = false;
                }
                else if (ch == '\r')
                {
                    if (Peek() == '\n')
                    {
                        Read();
                    }

                    _line++;
                    break;
                }
                else if (ch == '\n')
                {
                    _line++;
                    break;
                }
                else
                {
                    _field.Append(ch);
                }
            }

            if (error is not null)
            {
                yield return new CsvRecord(start, [], error);
                if (c < 0)
                {
                    yield break;
                }

                continue;
            }

            if (c == -1 && fields.Count == 0 && _field.Length == 0 && !fieldWasQuoted)
            {
                yield break;
            }

            fields.Add(_field.ToString());
            if (fields.Count == 1 && fields[0].Length == 0 && !fieldWasQuoted)
            {
                if (c == -1)
                {
                    yield break;
                }

                continue; // an empty line
            }

            yield return new CsvRecord(start, [.. fields], null);
            if (c == -1)
            {
                yield break;
            }
        }
    }

    private string Unclosed(int start)
    {
        UnreadFrom = $"A quoted field opens on line {start} and is never closed, so the rest of the file (from line {start + 1} to its end, line {_line}) was read as part of it and nothing after line {start - 1} was imported. Close that quote (a quote inside a field is written twice: \"\") and import the file again; the rows already imported are skipped as duplicates.";
        return $"a quoted field opened on line {start} is never closed";
    }

    /// <summary>
    /// Reads past the end of an overlong record without keeping it, counting lines as it goes, so the next
    /// record starts where it should and keeps its line number. Any quote toggles here, which matches the
    /// parser for well-formed quoting; a stray quote inside an unquoted overlong field can run on. Returns the last character read, -1 at the
    /// end of the file, or -2 if the file ended inside a quoted field (an unclosed quote: nothing after it
    /// can be told apart from the field).
    /// </summary>
    private int SkipRestOfRecord(int pending, bool quoted)
    {
        // pending: the character that went over the limit, read but not yet looked at.
        for (var c = pending; ; c = Read())
        {
            if (c == -1)
            {
                return quoted ? -2 : -1;
            }

            if (c == '"')
            {
                quoted = !quoted; // a doubled quote toggles twice, which is what it should do
            }
            else if (c == '\n')
            {
                _line++;
                if (!quoted)
                {
                    return c;
                }
            }
            else if (c == '\r' && !quoted)
            {
                if (Peek() == '\n')
                {
                    Read();
                }

                _line++;
                return c;
            }
        }
    }

    private int Read()
    {
        if (_peeked != -2)
        {
            var p = _peeked;
            _peeked = -2;
            return p;
        }

        return reader.Read();
    }

    private int Peek()
    {
        if (_peeked == -2)
        {
            _peeked = reader.Read();
        }

        return _peeked;
    }

    /// <summary>
    /// Quotes a value for a CSV we write, and defuses spreadsheet formulas: a cell that starts with
    /// = + - @ (or a tab/CR) is prefixed with ' so opening the export in a spreadsheet runs nothing.
    /// <see cref="Unguard"/> undoes it when such a file is imported.
    /// </summary>
    public static string Escape(string? value)
    {
        value ??= "";
        if (value.Length > 0 && StartsFormula(value[0]))
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\n', '\r', ';']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    /// <summary>
    /// Undoes <see cref="Escape"/>'s formula guard on a value read back from a CSV, so an export imports as the
    /// readers it came from (<c>'+x@example.com</c> is <c>+x@example.com</c> again). A value of our own that began
    /// with ' before one of those characters loses the '; no address can, and a name so written is rare.
    /// </summary>
    public static string Unguard(string value) => value.Length > 1 && value[0] == '\'' && StartsFormula(value[1]) ? value[1..] : value;

    private static bool StartsFormula(char c) => c is '=' or '+' or '-' or '@' or '\t' or '\r';
}
