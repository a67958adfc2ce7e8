namespace Newsletter.Web.Sending;

/// <summary>
/// A rendered issue body cut once at the places where each reader's own values go (their links, name and
/// address). Filling it is one pass and one allocation per reader, where chained string replacements
/// scanned and copied the whole body once per marker.
/// </summary>
public sealed class MarkedText
{
    private readonly string[] _literals;
    private readonly int[] _slots;

    private MarkedText(string[] literals, int[] slots)
    {
        _literals = literals;
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

    /// <summary>The text with each marker replaced by <c>values[slot]</c>.</summary>
    public string Fill(string[] values)
    {
        var length = 0;
        foreach (var literal in _literals)
        {
            length += literal.Length;
        }

        foreach (var slot in _slots)
        {
            length += values[slot].Length;
        }

        return string.Create(length, (this, values), static (span, state) =>
        {
            var (self, values) = state;
            var at = 0;
            for (var i = 0; i < self._literals.Length; i++)
            {
                self._literals[i].AsSpan().CopyTo(span[at..]);
                at += self._literals[i].Length;
                if (i < self._slots.Length)
                {
                    var value = values[self._slots[i]];
                    value.AsSpan().CopyTo(span[at..]);
                    at += value.Length;
                }
            }
        });
    }
}
