using System.Globalization;
using System.Text;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// How text from a configuration file appears in a diagnostic or in <c>tpt check</c>: control characters
/// escaped (a name must not move the cursor or colour the terminal) and long text cut, so a 10 MB value
/// cannot make a 10 MB error line.
/// </summary>
internal static class DiagnosticText
{
    /// <summary>Longer text is cut; no key, name or value in a real configuration comes near it.</summary>
    public const int MaxShownLength = 80;

    /// <summary><paramref name="text"/> in single quotes, escaped and cut.</summary>
    public static string Quote(string text, int maxLength = MaxShownLength) => $"'{Printable(text, maxLength)}'";

    /// <summary>
    /// <paramref name="text"/> with control characters (C0, DEL, C1) and bidirectional overrides written as
    /// <c>\xNN</c> or <c>\uNNNN</c> escapes, cut to <paramref name="maxLength"/> characters.
    /// </summary>
    public static string Printable(string text, int maxLength = MaxShownLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cut = text.Length > maxLength;
        var shown = cut ? text.AsSpan(0, maxLength) : text.AsSpan();
        if (!cut && !NeedsEscape(shown))
        {
            return text;
        }

        var builder = new StringBuilder(shown.Length + 32);
        foreach (var c in shown)
        {
            if (c == '\\')
            {
                builder.Append(@"\\");
            }
            else if (c < 0x20 || c == 0x7F)
            {
                builder.Append(c switch
                {
                    '\t' => @"\t",
                    '\r' => @"\r",
                    '\n' => @"\n",
                    _ => string.Create(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"),
                });
            }
            else if (IsInvisibleControl(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        if (cut)
        {
            builder.Append(CultureInfo.InvariantCulture, $"... ({text.Length} characters)");
        }

        return builder.ToString();
    }

    private static bool NeedsEscape(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c < 0x20 || c == 0x7F || c == '\\' || IsInvisibleControl(c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>C1 controls, bidirectional overrides and isolates, and line/paragraph separators.</summary>
    private static bool IsInvisibleControl(char c) =>
        c is (>= '\u0080' and <= '\u009F') or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069') or '\u2028' or '\u2029';
}
