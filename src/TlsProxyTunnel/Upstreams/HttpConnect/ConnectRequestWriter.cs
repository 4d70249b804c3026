using System.Text;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Upstreams.HttpConnect;

/// <summary>Builds the HTTP/1.1 CONNECT request sent to a <c>via</c> proxy.</summary>
internal static class ConnectRequestWriter
{
    /// <summary>
    /// Returns <c>CONNECT authority HTTP/1.1</c>, a <c>Host</c> header (RFC 9110 expects one and some
    /// proxies insist) unless the configuration sets one itself, the configured headers in config order,
    /// then the blank line.
    /// </summary>
    /// <remarks>
    /// A configured <c>Host</c> (any case) replaces ours rather than joining it: tls-proxy-tunnel's own
    /// container and OpenShift configs set one, and two Host headers make a request that RFC 9112 §3.2
    /// says a server must reject.
    /// </remarks>
    /// <param name="authority"><c>host:port</c>; never contains CR, LF or NUL.</param>
    /// <param name="headers">Headers in the order they must appear on the wire.</param>
    /// <exception cref="ArgumentException">
    /// A control character that would let text escape its line. Config validation and the SNI
    /// validation in the caller already prevent this; the check stays so a future caller bug
    /// cannot turn into request smuggling.
    /// </exception>
    public static byte[] Build(string authority, IReadOnlyList<ProxyHeader> headers)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(headers);
        if (authority.Length == 0 || ContainsLineBreak(authority) || authority.Contains(' ', StringComparison.Ordinal))
        {
            throw new ArgumentException("The CONNECT authority is empty or contains a space, CR, LF or NUL.", nameof(authority));
        }

        var sb = new StringBuilder(64 + (headers.Count * 48));
        sb.Append("CONNECT ").Append(authority).Append(" HTTP/1.1\r\n");
        if (!SetsHost(headers))
        {
            sb.Append("Host: ").Append(authority).Append("\r\n");
        }

        foreach (var header in headers)
        {
            ArgumentNullException.ThrowIfNull(header, nameof(headers));
            if (header.Name.Length == 0 || ContainsLineBreak(header.Name) || header.Name.Contains(':', StringComparison.Ordinal)
                || ContainsLineBreak(header.Value))
            {
                // The header's name only: its value may be a credential.
                throw new ArgumentException($"CONNECT header '{Sanitize(header.Name)}' has an empty name, a ':' in its name, or CR, LF or NUL.", nameof(headers));
            }

            sb.Append(header.Name).Append(": ").Append(header.Value).Append("\r\n");
        }

        sb.Append("\r\n");

        // Header values from the environment may hold non-ASCII text; UTF-8 is what proxies most
        // commonly accept (RFC 9110 treats such octets as opaque obs-text).
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static bool SetsHost(IReadOnlyList<ProxyHeader> headers)
    {
        foreach (var header in headers)
        {
            if (string.Equals(header?.Name, "Host", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool ContainsLineBreak(string s) => s.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0;

    private static string Sanitize(string s)
    {
        var chars = s.Length > 64 ? s[..64].ToCharArray() : s.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] < 0x20 || chars[i] > 0x7E)
            {
                chars[i] = '?';
            }
        }

        return new string(chars);
    }
}
