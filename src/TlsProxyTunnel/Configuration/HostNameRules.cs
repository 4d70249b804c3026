namespace TlsProxyTunnel.Configuration;

/// <summary>
/// The host-name shape the configuration accepts (SNI keys, upstream hosts, CONNECT targets).
/// Kept here rather than shared with routing so the loader has no dependency on the data path.
/// </summary>
internal static class HostNameRules
{
    public const int MaxLength = 253;
    public const int MaxLabelLength = 63;

    /// <summary>
    /// Labels of 1..63 letters, digits, '-' or '_', at most 253 characters in all, and not something an
    /// address parser would read as IPv4: a name whose last label is all digits is rejected, so
    /// <c>1.2.3.4</c> and <c>999.1.1.1</c> are never taken for names. A trailing dot is not accepted here;
    /// callers that allow one strip it first.
    /// </summary>
    public static bool IsValid(string name)
    {
        if (name.Length is 0 or > MaxLength)
        {
            return false;
        }

        var labelStart = 0;
        var lastLabelAllDigits = true;
        for (var i = 0; i <= name.Length; i++)
        {
            if (i == name.Length || name[i] == '.')
            {
                var length = i - labelStart;
                if (length is 0 or > MaxLabelLength)
                {
                    return false;
                }

                labelStart = i + 1;
                if (i < name.Length)
                {
                    lastLabelAllDigits = true;
                }

                continue;
            }

            var c = name[i];
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }

            if (!char.IsAsciiDigit(c))
            {
                lastLabelAllDigits = false;
            }
        }

        return !lastLabelAllDigits;
    }

    /// <summary>Lower case without a trailing dot: the form SNI names are compared in.</summary>
    public static string Normalize(string name)
    {
        var trimmed = name.EndsWith('.') ? name[..^1] : name;
        return trimmed.ToLowerInvariant();
    }
}
