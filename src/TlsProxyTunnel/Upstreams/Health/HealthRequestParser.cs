namespace TlsProxyTunnel.Upstreams.Health;

internal enum HealthParseOutcome
{
    NeedMoreData,
    Complete,
    Malformed,
    TooLarge,
}

internal enum HealthPath
{
    Other,
    Metrics,
    Ready,
    Status,
}

/// <summary>What the health responder needs from one HTTP/1.x request head.</summary>
internal struct HealthRequest
{
    public bool IsHead;

    public HealthPath Path;

    public bool KeepAlive;

    /// <summary>The request announces a body; we do not read bodies, so the connection closes after the answer.</summary>
    public bool HasBody;

    /// <summary>Bytes up to and including the blank line.</summary>
    public int HeadLength;

    public bool Http10;

    /// <summary>The query asks for <c>format=json</c> (the status page's machine-readable form).</summary>
    public bool Json;
}

/// <summary>A strict, allocation-free parser for request heads. Never throws.</summary>
internal static class HealthRequestParser
{
    public static HealthParseOutcome Parse(ReadOnlySpan<byte> data, int maxHeadBytes, out HealthRequest request)
    {
        request = default;
        var end = data.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            if (data.Length >= maxHeadBytes)
            {
                return HealthParseOutcome.TooLarge;
            }

            // A request line that is already wrong need not wait for the rest.
            var firstLineEnd = data.IndexOf("\r\n"u8);
            if (firstLineEnd >= 0 && !TryParseRequestLine(data[..firstLineEnd], ref request))
            {
                return HealthParseOutcome.Malformed;
            }

            return data.Length > 0 && !Configuration.HttpSyntax.IsTokenChar(data[0]) ? HealthParseOutcome.Malformed : HealthParseOutcome.NeedMoreData;
        }

        if (end + 4 > maxHeadBytes)
        {
            return HealthParseOutcome.TooLarge;
        }

        request.HeadLength = end + 4;
        var head = data[..end];
        var lineEnd = head.IndexOf("\r\n"u8);
        var requestLine = lineEnd < 0 ? head : head[..lineEnd];
        if (!TryParseRequestLine(requestLine, ref request))
        {
            return HealthParseOutcome.Malformed;
        }

        request.KeepAlive = !request.Http10;
        var headers = lineEnd < 0 ? ReadOnlySpan<byte>.Empty : head[(lineEnd + 2)..];
        while (!headers.IsEmpty)
        {
            var next = headers.IndexOf("\r\n"u8);
            var line = next < 0 ? headers : headers[..next];
            headers = next < 0 ? ReadOnlySpan<byte>.Empty : headers[(next + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !Configuration.HttpSyntax.IsToken(line[..colon]))
            {
                return HealthParseOutcome.Malformed;
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (value.IndexOfAny((byte)'\0', (byte)'\r', (byte)'\n') >= 0)
            {
                return HealthParseOutcome.Malformed;
            }

            if (EqualsIgnoreCase(name, "connection"u8))
            {
                if (ContainsIgnoreCase(value, "close"u8))
                {
                    request.KeepAlive = false;
                }
                else if (ContainsIgnoreCase(value, "keep-alive"u8))
                {
                    request.KeepAlive = true;
                }
            }
            else if (EqualsIgnoreCase(name, "content-length"u8))
            {
                if (value.IsEmpty || value.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
                {
                    return HealthParseOutcome.Malformed;
                }

                request.HasBody |= value.IndexOfAnyExcept((byte)'0') >= 0;
            }
            else if (EqualsIgnoreCase(name, "transfer-encoding"u8))
            {
                request.HasBody = true;
            }
        }

        return HealthParseOutcome.Complete;
    }

    private static bool TryParseRequestLine(ReadOnlySpan<byte> line, ref HealthRequest request)
    {
        var firstSpace = line.IndexOf((byte)' ');
        if (firstSpace <= 0 || !Configuration.HttpSyntax.IsToken(line[..firstSpace]))
        {
            return false;
        }

        request.IsHead = line[..firstSpace].SequenceEqual("HEAD"u8);
        var rest = line[(firstSpace + 1)..];
        var secondSpace = rest.IndexOf((byte)' ');
        if (secondSpace <= 0)
        {
            return false;
        }

        var target = rest[..secondSpace];
        var version = rest[(secondSpace + 1)..];
        if (version.SequenceEqual("HTTP/1.1"u8))
        {
            request.Http10 = false;
        }
        else if (version.SequenceEqual("HTTP/1.0"u8))
        {
            request.Http10 = true;
        }
        else
        {
            return false;
        }

        // Targets are visible ASCII only: no controls, no spaces, no bytes >= 0x7f.
        if (target.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7e) >= 0)
        {
            return false;
        }

        var query = target.IndexOf((byte)'?');
        var path = query < 0 ? target : target[..query];
        request.Path = path.SequenceEqual("/metrics"u8) ? HealthPath.Metrics
            : path.SequenceEqual("/ready"u8) ? HealthPath.Ready
            : path.SequenceEqual("/status"u8) ? HealthPath.Status
            : HealthPath.Other;
        request.Json = query >= 0 && AsksForJson(target[(query + 1)..]);
        return true;
    }

    /// <summary>Whether one of the <c>&amp;</c>-separated parameters is <c>format=json</c>; the others are ignored.</summary>
    private static bool AsksForJson(ReadOnlySpan<byte> query)
    {
        while (true)
        {
            var amp = query.IndexOf((byte)'&');
            var parameter = amp < 0 ? query : query[..amp];
            if (EqualsIgnoreCase(parameter, "format=json"u8))
            {
                return true;
            }

            if (amp < 0)
            {
                return false;
            }

            query = query[(amp + 1)..];
        }
    }

    private static bool EqualsIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> lowerExpected) =>
        System.Text.Ascii.EqualsIgnoreCase(value, lowerExpected);

    private static bool ContainsIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> lowerNeedle)
    {
        for (var i = 0; i + lowerNeedle.Length <= value.Length; i++)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(value.Slice(i, lowerNeedle.Length), lowerNeedle))
            {
                return true;
            }
        }

        return false;
    }
}
