namespace TlsProxyTunnel.Tls;

/// <summary>Text a peer chose (certificate subjects) made safe for a log line: no control characters, bounded.</summary>
internal static class PeerText
{
    private const int MaxChars = 256;

    public static string Printable(string text)
    {
        var length = Math.Min(text.Length, MaxChars);
        return string.Create(length, text, static (span, source) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                var c = source[i];
                span[i] = char.IsControl(c) ? '?' : c;
            }
        });
    }
}
