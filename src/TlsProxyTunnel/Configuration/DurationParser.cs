namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Durations in the grammar of Rust's humantime, which tls-proxy-tunnel parses them with: a sum of parts,
/// each a whole number and a unit (<c>100ms</c>, <c>10sec</c>, <c>2h 37min</c>, <c>5 s</c>, <c>1w</c>),
/// with optional white space between number and unit and between parts. Units are case-sensitive
/// (<c>m</c> is a minute, <c>M</c> a month).
/// </summary>
internal static class DurationParser
{
    /// <summary>
    /// Timers in .NET (CancelAfter, Task.Delay) reject anything over int.MaxValue milliseconds, so a
    /// longer value would load and then throw in the data path.
    /// </summary>
    public static readonly TimeSpan Maximum = TimeSpan.FromMilliseconds(int.MaxValue);

    public const string ExpectedForm = "a duration such as '100ms', '30s', '10sec', '5m', '2h 37min' or '1d' (units ns, us, ms, s, m, h, d, w and their long names)";

    private const long NanosPerSecond = 1_000_000_000;

    /// <summary>humantime's units in nanoseconds; a month is 30.44 days and a year 365.25 days, as there.</summary>
    private static readonly Dictionary<string, long> Units = new(StringComparer.Ordinal)
    {
        ["nanos"] = 1, ["nsec"] = 1, ["ns"] = 1,
        ["usec"] = 1_000, ["us"] = 1_000, ["µs"] = 1_000,
        ["millis"] = 1_000_000, ["msec"] = 1_000_000, ["ms"] = 1_000_000,
        ["seconds"] = NanosPerSecond, ["second"] = NanosPerSecond, ["sec"] = NanosPerSecond, ["s"] = NanosPerSecond,
        ["minutes"] = 60 * NanosPerSecond, ["minute"] = 60 * NanosPerSecond, ["min"] = 60 * NanosPerSecond, ["m"] = 60 * NanosPerSecond,
        ["hours"] = 3_600 * NanosPerSecond, ["hour"] = 3_600 * NanosPerSecond, ["hrs"] = 3_600 * NanosPerSecond, ["hr"] = 3_600 * NanosPerSecond, ["h"] = 3_600 * NanosPerSecond,
        ["days"] = 86_400 * NanosPerSecond, ["day"] = 86_400 * NanosPerSecond, ["d"] = 86_400 * NanosPerSecond,
        ["weeks"] = 604_800 * NanosPerSecond, ["week"] = 604_800 * NanosPerSecond, ["wks"] = 604_800 * NanosPerSecond, ["wk"] = 604_800 * NanosPerSecond, ["w"] = 604_800 * NanosPerSecond,
        ["months"] = 2_630_016 * NanosPerSecond, ["month"] = 2_630_016 * NanosPerSecond, ["M"] = 2_630_016 * NanosPerSecond,
        ["years"] = 31_557_600 * NanosPerSecond, ["year"] = 31_557_600 * NanosPerSecond, ["yrs"] = 31_557_600 * NanosPerSecond, ["yr"] = 31_557_600 * NanosPerSecond, ["y"] = 31_557_600 * NanosPerSecond,
    };

    private static readonly Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> UnitLookup = Units.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>
    /// Zero is returned as zero; callers decide whether it is allowed. A value over <see cref="Maximum"/> comes
    /// back as <see cref="TimeSpan.MaxValue"/>. A positive value below 100 ns (one tick) is rounded up, not to zero.
    /// </summary>
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var span = text.AsSpan();
        var i = SkipSpace(span, 0);
        if (i == span.Length || !char.IsAsciiDigit(span[i]))
        {
            return false;
        }

        Int128 totalNanos = 0;
        while (i < span.Length)
        {
            // The number; like humantime, white space inside it is skipped.
            ulong number = 0;
            while (i < span.Length && !IsUnitChar(span[i]))
            {
                if (char.IsAsciiDigit(span[i]))
                {
                    if (number > (ulong.MaxValue - 9) / 10)
                    {
                        return false;
                    }

                    number = (number * 10) + (ulong)(span[i] - '0');
                }
                else if (!char.IsWhiteSpace(span[i]))
                {
                    return false;
                }

                i++;
            }

            var unitStart = i;
            while (i < span.Length && IsUnitChar(span[i]))
            {
                i++;
            }

            if (!UnitLookup.TryGetValue(span[unitStart..i], out var unitNanos))
            {
                return false;
            }

            totalNanos += (Int128)number * unitNanos;
            if (i < span.Length && char.IsAsciiDigit(span[i]))
            {
                // "1h30m": the next part starts right after the unit.
                continue;
            }

            if (i < span.Length && !char.IsWhiteSpace(span[i]))
            {
                return false;
            }

            i = SkipSpace(span, i);
            if (i < span.Length && !char.IsAsciiDigit(span[i]))
            {
                return false;
            }
        }

        var ticks = (totalNanos + 99) / 100;
        duration = ticks > (Int128)Maximum.Ticks ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)ticks);
        return true;
    }

    private static bool IsUnitChar(char c) => char.IsAsciiLetter(c) || c == 'µ';

    private static int SkipSpace(ReadOnlySpan<char> span, int i)
    {
        while (i < span.Length && char.IsWhiteSpace(span[i]))
        {
            i++;
        }

        return i;
    }
}
