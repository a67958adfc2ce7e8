using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;

namespace Newsletter.Mail;

/// <summary>
/// DKIM's relaxed body canonicalisation (RFC 6376 3.4.4) streamed into SHA-256 in one pass: runs of spaces and
/// tabs become one space, whitespace at the end of a line goes, empty lines at the end of the body go, and the
/// body ends with exactly one CRLF unless it is empty. Only CRLF ends a line; a bare CR or LF is an ordinary
/// character, as in other verifiers.
/// </summary>
/// <remarks>
/// Most of a body is canonical as it stands: a vector scan finds the next byte that may change (a tab, or a space
/// before a space, a tab or a CR) and the stretch before it is hashed as it is, up to its last visible character.
/// Only what follows (line ends that may turn out to be trailing, whitespace runs) goes through the byte-by-byte
/// rules. Output is gathered in a buffer so the hash is fed a few large blocks, not one call per line.
/// Not thread-safe; <see cref="Reset"/> makes it ready for the next body.
/// </remarks>
internal sealed class RelaxedBodyHasher : IDisposable
{
    private static readonly SearchValues<byte> Invisible = SearchValues.Create(" \t\r\n"u8);
    private static readonly byte[] CrLf = "\r\n"u8.ToArray();

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _buffered;

    // Line ends held back: they are trailing empty lines unless more content follows.
    private int _pendingLineBreaks;

    // A run of spaces or tabs inside the current line: one space if content follows on this line.
    private bool _pendingSpace;

    // A CR that may be the start of a CRLF.
    private bool _pendingCr;

    private bool _any;

    /// <summary>Canonical bytes hashed so far, for tests.</summary>
    internal long Length { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length)
        {
            if (!_pendingCr && !_pendingSpace && _pendingLineBreaks == 0)
            {
                var rest = data[i..];
                var stretch = rest[..NextChange(rest)];
                // Up to its last visible byte the stretch is canonical; its tail may be the body's last line ends.
                var end = stretch.LastIndexOfAnyExcept(Invisible) + 1;
                if (end > 0)
                {
                    Put(stretch[..end]);
                    _any = true;
                    i += end;
                    continue;
                }
            }

            Step(data[i]);
            i++;
        }
    }

    /// <summary>The body hash (bh=), after which the hasher is ready for the next body.</summary>
    public byte[] Finish()
    {
        if (_pendingCr)
        {
            _pendingCr = false;
            Content((byte)'\r');
        }

        if (_any)
        {
            Put(CrLf);
        }

        Flush();
        var hash = _hash.GetHashAndReset();
        ResetState();
        return hash;
    }

    public void Reset()
    {
        _hash.GetHashAndReset();
        ResetState();
    }

    public void Dispose() => _hash.Dispose();

    private void ResetState()
    {
        _buffered = 0;
        _pendingLineBreaks = 0;
        _pendingSpace = _pendingCr = _any = false;
        Length = 0;
    }

    private void Step(byte b)
    {
        if (_pendingCr)
        {
            _pendingCr = false;
            if (b == '\n')
            {
                // End of line: whitespace before it goes.
                _pendingSpace = false;
                _pendingLineBreaks++;
                return;
            }

            Content((byte)'\r');
        }

        switch (b)
        {
            case (byte)'\r':
                _pendingCr = true;
                break;
            case (byte)' ' or (byte)'\t':
                _pendingSpace = true;
                break;
            default:
                Content(b);
                break;
        }
    }

    private void Content(byte b)
    {
        for (; _pendingLineBreaks > 0; _pendingLineBreaks--)
        {
            Put(CrLf);
        }

        if (_pendingSpace)
        {
            _pendingSpace = false;
            Put((byte)' ');
        }

        Put(b);
        _any = true;
    }

    private void Put(byte b)
    {
        if (_buffered == _buffer.Length)
        {
            Flush();
        }

        _buffer[_buffered++] = b;
        Length++;
    }

    private void Put(ReadOnlySpan<byte> bytes)
    {
        Length += bytes.Length;
        if (bytes.Length > _buffer.Length - _buffered)
        {
            Flush();
            if (bytes.Length >= _buffer.Length / 2)
            {
                _hash.AppendData(bytes);
                return;
            }
        }

        bytes.CopyTo(_buffer.AsSpan(_buffered));
        _buffered += bytes.Length;
    }

    private void Flush()
    {
        if (_buffered > 0)
        {
            _hash.AppendData(_buffer.AsSpan(0, _buffered));
            _buffered = 0;
        }
    }

    /// <summary>
    /// The index of the first byte that canonicalisation may change: a tab, or a space followed by a space, a tab
    /// or a CR (or by the end of <paramref name="s"/>, where the next byte is not known yet); its length if none.
    /// </summary>
    internal static int NextChange(ReadOnlySpan<byte> s)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            ref var start = ref MemoryMarshal.GetReference(s);
            var tab = Vector128.Create((byte)'\t');
            var space = Vector128.Create((byte)' ');
            var cr = Vector128.Create((byte)'\r');
            for (; i + Vector128<byte>.Count < s.Length; i += Vector128<byte>.Count)
            {
                var here = Vector128.LoadUnsafe(ref start, (nuint)i);
                var next = Vector128.LoadUnsafe(ref start, (nuint)i + 1);
                var change = Vector128.Equals(here, tab)
                    | (Vector128.Equals(here, space) & (Vector128.Equals(next, space) | Vector128.Equals(next, tab) | Vector128.Equals(next, cr)));
                if (change != Vector128<byte>.Zero)
                {
                    return i + BitOperations.TrailingZeroCount(change.ExtractMostSignificantBits());
                }
            }
        }

        for (; i < s.Length; i++)
        {
            if (s[i] == '\t' || (s[i] == ' ' && (i + 1 == s.Length || s[i + 1] is (byte)' ' or (byte)'\t' or (byte)'\r')))
            {
                return i;
            }
        }

        return s.Length;
    }
}

/// <summary>
/// DKIM's relaxed header canonicalisation (RFC 6376 3.4.2) over header fields as they are written: the name in
/// lower case, a colon, the value unfolded with every run of whitespace as one space and none at either end.
/// </summary>
internal static class RelaxedHeader
{
    /// <summary>Appends one field's canonical form, without the line end, to <paramref name="into"/>.</summary>
    /// <param name="name">The field name as written, without the colon (trailing whitespace allowed).</param>
    /// <param name="value">The raw value after the colon, folding and line end included.</param>
    /// <param name="into">Where the canonical bytes go.</param>
    public static void Append(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, ArrayBufferWriter<byte> into)
    {
        name = name.TrimEnd(" \t"u8);
        var span = into.GetSpan(name.Length + 1 + value.Length);
        var n = 0;
        foreach (var c in name)
        {
            span[n++] = c is >= (byte)'A' and <= (byte)'Z' ? (byte)(c + 32) : c;
        }

        span[n++] = (byte)':';
        var space = false;
        var started = false;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\r' && i + 1 < value.Length && value[i + 1] == '\n')
            {
                // Unfolding removes the CRLF; the whitespace after it is a run like any other.
                i++;
                continue;
            }

            if (c is (byte)' ' or (byte)'\t')
            {
                space = started;
                continue;
            }

            if (space)
            {
                span[n++] = (byte)' ';
                space = false;
            }

            span[n++] = c;
            started = true;
        }

        into.Advance(n);
    }
}
