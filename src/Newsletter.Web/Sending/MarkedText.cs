namespace Newsletter.Web.Sending;

/// <summary>
/// A rendered issue body cut once at the places where each reader's own values go (their links, name and
/// address). Filling it is one pass and one allocation per reader, where chained string replacements
/// scanned and copied the whole body once per marker.
/// </summary>
public sealed class MarkedText
{
    private readonly byte[][] _utf8Literals;
    private readonly int[] _slots;

    private MarkedText(string[] literals, int[] slots)
    {
        _utf8Literals = [.. literals.Select(System.Text.Encoding.UTF8.GetBytes)];
        _slots = slots;
    }

    /// <summary>Cuts <paramref name="text"/> at every occurrence of each marker; a marker's index is its value's slot.</summary>
    public static MarkedText Parse(string text, IReadOnlyList<string> markers)
    {
        var literals = new List<string>();
        var slots = new List<int>();
        var position = 0;
        while (true)
        {
            var (at, slot) = (-1, -1);
            for (var m = 0; m < markers.Count; m++)
            {
                var found = text.IndexOf(markers[m], position, StringComparison.Ordinal);
                if (found >= 0 && (at < 0 || found < at))
                {
                    (at, slot) = (found, m);
                }
            }

            if (at < 0)
            {
                literals.Add(text[position..]);
                return new MarkedText([.. literals], [.. slots]);
            }

            literals.Add(text[position..at]);
            slots.Add(slot);
            position = at + markers[slot].Length;
        }
    }

    /// <summary>
    /// The text with each marker replaced by <c>values[slot]</c>, as UTF-8: the literal parts were encoded
    /// once, so a reader's copy costs one allocation and a copy, never a pass through an encoder.
    /// </summary>
    public byte[] FillUtf8(string[] values)
    {
        var valueBytes = new byte[values.Length][];
        var length = 0;
        foreach (var literal in _utf8Literals)
        {
            length += literal.Length;
        }

        foreach (var slot in _slots)
        {
            valueBytes[slot] ??= System.Text.Encoding.UTF8.GetBytes(values[slot]);
            length += valueBytes[slot].Length;
        }

        var buffer = new byte[length];
        var at = 0;
        for (var i = 0; i < _utf8Literals.Length; i++)
        {
            _utf8Literals[i].CopyTo(buffer, at);
            at += _utf8Literals[i].Length;
            if (i < _slots.Length)
            {
                var value = valueBytes[_slots[i]];
                value.CopyTo(buffer, at);
                at += value.Length;
            }
        }

        return buffer;
    }
}
