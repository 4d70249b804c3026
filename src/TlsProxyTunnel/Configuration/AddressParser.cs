using System.Globalization;
using System.Net;
using System.Net.Sockets;

using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Address syntax shared by listen addresses, CONNECT targets, upstream URLs and name servers. Stricter than
/// <see cref="IPAddress.TryParse(string?, out IPAddress?)"/>, which reads "1" as 0.0.0.1.
/// </summary>
internal static class AddressParser
{
    /// <summary>A literal <c>a.b.c.d</c> with four decimal parts of at most 255.</summary>
    public static bool TryParseIPv4(string text, out IPAddress address)
    {
        address = IPAddress.None;
        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiDigit) || int.Parse(part, CultureInfo.InvariantCulture) > 255)
            {
                return false;
            }
        }

        return IPAddress.TryParse(text, out address!);
    }

    public static bool TryParseIPv6(string text, out IPAddress address)
    {
        address = IPAddress.None;
        return text.Contains(':', StringComparison.Ordinal)
            && IPAddress.TryParse(text, out var parsed)
            && parsed.AddressFamily == AddressFamily.InterNetworkV6
            && (address = parsed) is not null;
    }

    /// <summary>Splits <c>host:port</c> or <c>[v6]:port</c>. The host comes back without brackets.</summary>
    public static bool TrySplitHostPort(string text, out string host, out string port, out bool bracketed)
    {
        host = port = "";
        bracketed = text.StartsWith('[');
        if (bracketed)
        {
            var close = text.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = text[1..close];
            port = text[(close + 2)..];
            return true;
        }

        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            return false;
        }

        host = text[..colon];
        port = text[(colon + 1)..];
        return true;
    }

    public static bool TryParsePort(string text, int minimum, out int port)
    {
        port = 0;
        return text.Length is > 0 and <= 5
            && text.All(char.IsAsciiDigit)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port)
            && port >= minimum && port <= IPEndPoint.MaxPort;
    }

    /// <summary>
    /// A listen address: an IP literal and a port, IPv6 in brackets. Port 0 is allowed (the OS picks one),
    /// which tests rely on. Returns null on success, otherwise what is wrong.
    /// </summary>
    public static string? ParseListen(string text, out IPEndPoint endPoint, ValueEcho echo = default)
    {
        endPoint = new IPEndPoint(IPAddress.Any, 0);
        if (!TrySplitHostPort(text, out var host, out var portText, out var bracketed))
        {
            return "expected IP:port, for example '127.0.0.1:8443' or '[::]:443'";
        }

        if (!TryParsePort(portText, 0, out var port))
        {
            return $"the port {echo.Of(portText)} must be a number from 0 to 65535";
        }

        IPAddress address;
        if (bracketed)
        {
            if (!TryParseIPv6(host, out address))
            {
                return $"{echo.Of($"[{host}]")} is not an IPv6 address";
            }
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            return "an IPv6 address must be written in brackets, for example '[::1]:8443'";
        }
        else if (!TryParseIPv4(host, out address))
        {
            return $"{echo.Of(host)} is not an IP address (listen addresses take IP literals, not host names)";
        }

        endPoint = new IPEndPoint(address, port);
        return null;
    }

    /// <summary>
    /// <c>host:port</c> where host is a host name or an IP literal (IPv6 in brackets) and port is 1..65535.
    /// <paramref name="host"/> comes back without brackets. Returns null on success, otherwise what is wrong.
    /// </summary>
    public static string? ParseHostAndPort(string text, out string host, out int port, out IPAddress? literal, ValueEcho echo = default)
    {
        port = 0;
        literal = null;
        if (!TrySplitHostPort(text, out host, out var portText, out var bracketed) || host.Length == 0)
        {
            return "expected host:port, for example 'proxy.example.com:3128' or '[2001:db8::1]:3128'";
        }

        if (!TryParsePort(portText, 1, out port))
        {
            return $"the port {echo.Of(portText)} must be a number from 1 to 65535";
        }

        if (bracketed)
        {
            if (!TryParseIPv6(host, out var v6))
            {
                return $"{echo.Of($"[{host}]")} is not an IPv6 address";
            }

            literal = v6;
            return null;
        }

        if (host.Contains(':', StringComparison.Ordinal))
        {
            return "an IPv6 address must be written in brackets, for example '[2001:db8::1]:3128'";
        }

        if (TryParseIPv4(host, out var v4))
        {
            literal = v4;
            return null;
        }

        return HostName.TryNormalize(host, out _)
            ? null
            : $"{echo.Of(host)} is not a valid host name or IP address (labels of letters, digits, '-' and '_', at most 63 characters each)";
    }

    /// <summary>A DNS server: <c>IP</c>, <c>IP:port</c>, <c>[v6]:port</c> or a bare IPv6 literal; port 53 when omitted.</summary>
    public static string? ParseNameserver(string text, out IPEndPoint endPoint)
    {
        endPoint = new IPEndPoint(IPAddress.Any, 53);
        if (TryParseIPv4(text, out var v4))
        {
            endPoint = new IPEndPoint(v4, 53);
            return null;
        }

        if (!text.StartsWith('[') && TryParseIPv6(text, out var v6))
        {
            endPoint = new IPEndPoint(v6, 53);
            return null;
        }

        var error = ParseListen(text, out endPoint);
        if (error is null && endPoint.Port == 0)
        {
            return "the port must be a number from 1 to 65535";
        }

        return error is null ? null : "expected an IP address with an optional port, for example '1.1.1.1', '10.0.0.2:5353' or '[2606:4700::1111]:53'";
    }
}
