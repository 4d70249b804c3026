namespace TlsProxyTunnel.Routing;

/// <summary>
/// The one definition of "a host name we are willing to route on", shared by SNI values,
/// SNI keys, upstream and proxy hosts and CONNECT targets in the configuration, so they can never disagree
/// (the configuration once had its own copy, which lower-cased non-ASCII letters such as U+212A into ASCII).
/// </summary>
/// <remarks>
/// Rules: ASCII letters, digits, '-', '_' and '.' only (so NUL, CR, LF, space, '*', ':', '/',
/// '@', '[' and non-ASCII never reach a log line, a CONNECT line or a pattern match);
/// lower-cased; one trailing dot removed; 1–253 characters; labels 1–63 characters; and not
/// an IP literal. IPv6 literals already fail on ':'. A name whose last label is all digits is
/// treated as IPv4 (as the WHATWG URL parser does), which covers dotted quads and the short
/// forms resolvers accept such as "127.1"; no real TLD is numeric. Hyphen placement is not
/// policed: routing only needs names to be unambiguous, not registrable.
/// </remarks>
internal static class HostName
{
    /// <summary>Longest normalised host name (RFC 1035 presentation form without the root dot).</summary>
    public const int MaxLength = 253;

    private const int MaxLabelLength = 63;

    // With the optional trailing dot.
    private const int MaxRawLength = MaxLength + 1;

    /// <summary>Validates and normalises a raw SNI host_name without allocating.</summary>
    /// <param name="raw">Bytes as sent by the client.</param>
    /// <param name="destination">Receives the normalised name; <see cref="MaxLength"/> chars always suffice.</param>
    /// <param name="length">Chars written to <paramref name="destination"/>; 0 on failure.</param>
    /// <returns>False when the name is not routable (callers treat that as no SNI).</returns>
    public static bool TryNormalize(ReadOnlySpan<byte> raw, Span<char> destination, out int length)
    {
        length = 0;
        if (raw.Length > MaxRawLength)
        {
            return false;
        }

        Span<char> scratch = stackalloc char[MaxRawLength];
        for (var i = 0; i < raw.Length; i++)
        {
            // Widening keeps bytes >= 0x80 outside the ASCII allow-list, so they fail below.
            scratch[i] = (char)raw[i];
        }

        if (!TryNormalizeInPlace(scratch[..raw.Length], out var normalizedLength) || normalizedLength > destination.Length)
        {
            return false;
        }

        scratch[..normalizedLength].CopyTo(destination);
        length = normalizedLength;
        return true;
    }

    /// <summary>Validates and normalises a configured name or CONNECT target.</summary>
    /// <param name="name">The name to check.</param>
    /// <param name="normalized">The normalised name, or <see cref="string.Empty"/> on failure.
    /// The same instance as <paramref name="name"/> when it was already normalised.</param>
    public static bool TryNormalize(string name, out string normalized)
    {
        normalized = string.Empty;
        if (name is null || name.Length > MaxRawLength)
        {
            return false;
        }

        Span<char> scratch = stackalloc char[MaxRawLength];
        name.AsSpan().CopyTo(scratch);
        if (!TryNormalizeInPlace(scratch[..name.Length], out var length))
        {
            return false;
        }

        var result = scratch[..length];
        normalized = result.SequenceEqual(name.AsSpan()) ? name : new string(result);
        return true;
    }

    /// <summary>
    /// Checks a route pattern: an exact host name or "*.suffix" where the suffix is a host name.
    /// A '*' anywhere else is rejected so that a client sending "*" or "*.example.com" as its SNI
    /// can never be mistaken for a pattern.
    /// </summary>
    /// <param name="pattern">The configured pattern.</param>
    /// <param name="normalized">The normalised pattern, or <see cref="string.Empty"/> on failure.</param>
    public static bool IsValidPattern(string pattern, out string normalized)
    {
        normalized = string.Empty;
        if (pattern is null)
        {
            return false;
        }

        if (!pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return TryNormalize(pattern, out normalized);
        }

        if (!TryNormalize(pattern[2..], out var suffix))
        {
            return false;
        }

        normalized = string.Concat("*.", suffix);
        return true;
    }

    private static bool TryNormalizeInPlace(Span<char> name, out int length)
    {
        length = 0;
        if (!name.IsEmpty && name[^1] == '.')
        {
            name = name[..^1];
        }

        if (name.IsEmpty || name.Length > MaxLength)
        {
            return false;
        }

        var labelLength = 0;
        var labelAllDigits = true;
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c == '.')
            {
                if (labelLength == 0)
                {
                    return false;
                }

                labelLength = 0;
                labelAllDigits = true;
                continue;
            }

            if (char.IsAsciiLetterUpper(c))
            {
                name[i] = (char)(c | 0x20);
                labelAllDigits = false;
            }
            else if (char.IsAsciiDigit(c))
            {
                // Stays all-digits.
            }
            else if (char.IsAsciiLetterLower(c) || c is '-' or '_')
            {
                labelAllDigits = false;
            }
            else
            {
                return false;
            }

            if (++labelLength > MaxLabelLength)
            {
                return false;
            }
        }

        // The loop only sees a label end at a dot, so check the last label here; the trailing
        // dot was removed above, so an empty last label means the name ended in "..".
        if (labelLength == 0 || labelAllDigits)
        {
            return false;
        }

        length = name.Length;
        return true;
    }
}
