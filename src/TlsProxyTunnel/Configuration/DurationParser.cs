using System.Globalization;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// humantime-style durations as tls-proxy-tunnel wrote them: <c>100ms</c>, <c>30s</c>, <c>1h 30m</c>.
/// </summary>
internal static class DurationParser
{
    /// <summary>
    /// Timers in .NET (CancelAfter, Task.Delay) reject anything over int.MaxValue milliseconds, so a
    /// longer value would load and then throw in the data path.
    /// </summary>
    public static readonly TimeSpan Maximum = TimeSpan.FromMilliseconds(int.MaxValue);

    public const string ExpectedForm = "a duration such as '100ms', '30s', '5m', '1h 30m' or '1d' (units ms, s, m, h, d)";

    /// <summary>Parses a sum of number+unit parts, optionally separated by spaces. Zero is returned as zero; callers decide whether it is allowed.</summary>
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var span = text.AsSpan().Trim();
        if (span.IsEmpty)
        {
            return false;
        }

        long totalMs = 0;
        var i = 0;
        while (i < span.Length)
        {
            while (i < span.Length && span[i] == ' ')
            {
                i++;
            }

            if (i == span.Length)
            {
                break;
            }

            var digitsStart = i;
            while (i < span.Length && char.IsAsciiDigit(span[i]))
            {
                i++;
            }

            if (i == digitsStart || i - digitsStart > 12)
            {
                return false;
            }

            var number = long.Parse(span[digitsStart..i], NumberStyles.None, CultureInfo.InvariantCulture);
            var unitStart = i;
            while (i < span.Length && char.IsAsciiLetter(span[i]))
            {
                i++;
            }

            long unitMs = span[unitStart..i] switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => 0,
            };
            if (unitMs == 0)
            {
                return false;
            }

            // 12 digits times a day still fits in a long; the sum is bounded below.
            totalMs += number * unitMs;
            if (totalMs > int.MaxValue)
            {
                duration = TimeSpan.MaxValue;
                return true;
            }
        }

        duration = TimeSpan.FromMilliseconds(totalMs);
        return true;
    }
}
