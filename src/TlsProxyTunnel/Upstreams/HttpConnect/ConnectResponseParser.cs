namespace TlsProxyTunnel.Upstreams.HttpConnect;

/// <summary>What <see cref="ConnectResponseParser"/> made of the bytes received so far.</summary>
internal enum ConnectResponseOutcome
{
    /// <summary>The bytes so far are a valid prefix of a response header block; read more.</summary>
    NeedMoreData,

    /// <summary>A complete header block with a valid status line.</summary>
    Complete,

    /// <summary>The status line is not <c>HTTP/1.x NNN reason</c>, or the block has a stray control byte.</summary>
    Malformed,

    /// <summary>No end of the header block within the allowed number of bytes.</summary>
    TooLarge,
}

/// <summary>The parts of a CONNECT response the tunnel needs.</summary>
internal readonly struct ConnectResponse
{
    public ConnectResponse(int statusCode, int headerLength, Range reason)
    {
        StatusCode = statusCode;
        HeaderLength = headerLength;
        Reason = reason;
    }

    public int StatusCode { get; }

    /// <summary>Bytes up to and including the blank line that ends the header block.</summary>
    public int HeaderLength { get; }

    /// <summary>The reason phrase's position in the parsed data (may be empty).</summary>
    public Range Reason { get; }

    public bool IsSuccess => StatusCode is >= 200 and <= 299;
}

/// <summary>
/// Parses a proxy's answer to CONNECT. Pure and allocation-free, never throws.
/// </summary>
/// <remarks>
/// Line endings: CRLF, and also a bare LF (RFC 9112 §2.2 lets a recipient accept LF alone, and some
/// small proxies and test scripts send it). A bare CR anywhere is Malformed, because a CR that is not
/// part of a line ending is exactly what header-splitting attacks rely on. The header block ends at
/// the first empty line. Header fields after the status line are not interpreted: a CONNECT
/// response's fields carry nothing the tunnel needs.
/// The status line is strict: <c>HTTP/1.0</c> or <c>HTTP/1.1</c>, one space, exactly three digits,
/// then either the line end or one space and a reason of printable bytes (HTAB, SP, VCHAR, obs-text).
/// Invalid input is reported as soon as it is visible, so a proxy speaking another protocol fails
/// fast; every prefix of a valid response is <see cref="ConnectResponseOutcome.NeedMoreData"/>.
/// </remarks>
internal static class ConnectResponseParser
{
    public const int DefaultMaxHeaderBytes = 16 * 1024;

    private static ReadOnlySpan<byte> HttpPrefix => "HTTP/1."u8;

    public static ConnectResponseOutcome Parse(ReadOnlySpan<byte> data, int maxHeaderBytes, out ConnectResponse response)
    {
        response = default;
        if (maxHeaderBytes <= 0)
        {
            return ConnectResponseOutcome.TooLarge;
        }

        var window = data.Length > maxHeaderBytes ? data[..maxHeaderBytes] : data;

        var firstLf = window.IndexOf((byte)'\n');
        if (firstLf < 0)
        {
            // Reject early what can never become a status line.
            if (!IsValidStatusLinePrefix(window))
            {
                return ConnectResponseOutcome.Malformed;
            }

            return window.Length >= maxHeaderBytes ? ConnectResponseOutcome.TooLarge : ConnectResponseOutcome.NeedMoreData;
        }

        var statusLineEnd = firstLf > 0 && window[firstLf - 1] == (byte)'\r' ? firstLf - 1 : firstLf;
        if (!TryParseStatusLine(window[..statusLineEnd], out var statusCode, out var reason))
        {
            return ConnectResponseOutcome.Malformed;
        }

        // Walk the header lines: each ends with LF, optionally preceded by CR; an empty one ends the block.
        var lineStart = firstLf + 1;
        while (true)
        {
            var rest = window[lineStart..];
            var lf = rest.IndexOf((byte)'\n');
            var line = lf < 0 ? rest : rest[..lf];

            // A CR is only allowed as the last byte before LF; in an unfinished line it may be that one.
            var cr = line.IndexOf((byte)'\r');
            if (cr >= 0 && cr != line.Length - 1)
            {
                return ConnectResponseOutcome.Malformed;
            }

            if (line.IndexOfAnyInRange((byte)0, (byte)0x08) >= 0 || line.IndexOfAnyInRange((byte)0x0A, (byte)0x0C) >= 0
                || line.IndexOfAnyInRange((byte)0x0E, (byte)0x1F) >= 0 || line.Contains((byte)0x7F))
            {
                return ConnectResponseOutcome.Malformed;
            }

            if (lf < 0)
            {
                return window.Length >= maxHeaderBytes ? ConnectResponseOutcome.TooLarge : ConnectResponseOutcome.NeedMoreData;
            }

            var contentLength = line.Length > 0 && line[^1] == (byte)'\r' ? line.Length - 1 : line.Length;
            lineStart += lf + 1;
            if (contentLength == 0)
            {
                response = new ConnectResponse(statusCode, lineStart, reason);
                return ConnectResponseOutcome.Complete;
            }
        }
    }

    private static bool IsValidStatusLinePrefix(ReadOnlySpan<byte> partial)
    {
        // Check the bytes we have against the fixed shape "HTTP/1.x NNN " so far.
        for (var i = 0; i < partial.Length && i < 13; i++)
        {
            var b = partial[i];
            var ok = i switch
            {
                < 7 => b == HttpPrefix[i],
                7 => b is (byte)'0' or (byte)'1',
                8 => b == (byte)' ',
                9 or 10 or 11 => b is >= (byte)'0' and <= (byte)'9',
                _ => b is (byte)' ' or (byte)'\r',
            };
            if (!ok)
            {
                return false;
            }
        }

        // A CR may only be the last byte received (the LF may still be coming).
        var cr = partial.IndexOf((byte)'\r');
        if (cr >= 0)
        {
            if (cr != partial.Length - 1)
            {
                return false;
            }

            partial = partial[..cr];
        }

        return partial.Length <= 13 || IsReasonText(partial[13..]);
    }

    private static bool TryParseStatusLine(ReadOnlySpan<byte> line, out int statusCode, out Range reason)
    {
        statusCode = 0;
        reason = default;

        // "HTTP/1.x NNN" is 12 bytes; a reason, if any, follows one space.
        if (line.Length < 12 || !line.StartsWith(HttpPrefix) || line[7] is not ((byte)'0' or (byte)'1') || line[8] != (byte)' ')
        {
            return false;
        }

        var code = 0;
        for (var i = 9; i < 12; i++)
        {
            var d = line[i];
            if (d is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            code = (code * 10) + (d - '0');
        }

        if (line.Length == 12)
        {
            statusCode = code;
            reason = new Range(12, 12);
            return true;
        }

        if (line[12] != (byte)' ' || !IsReasonText(line[13..]))
        {
            return false;
        }

        statusCode = code;
        reason = new Range(13, line.Length);
        return true;
    }

    // reason-phrase = *( HTAB / SP / VCHAR / obs-text )
    private static bool IsReasonText(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            if (b != (byte)'\t' && (b < 0x20 || b == 0x7F))
            {
                return false;
            }
        }

        return true;
    }
}
