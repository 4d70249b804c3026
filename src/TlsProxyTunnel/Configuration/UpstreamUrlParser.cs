using System.Net.Sockets;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Upstream URLs: <c>tcp://host:port</c>, <c>tcp4://host:port</c>, <c>tcp6://[v6]:port</c>. Unlike
/// tls-proxy-tunnel, a path, query or user info is an error rather than silently dropped, so credentials
/// cannot end up in a URL where they would be logged.
/// </summary>
internal static class UpstreamUrlParser
{
    public const string AcceptedForms = "tcp://host:port, tcp4://host:port or tcp6://[ipv6]:port";

    /// <summary>Returns null on success, otherwise what is wrong.</summary>
    public static string? Parse(string url, out AddressFamilyFilter family, out string host, out int port, ValueEcho echo = default)
    {
        family = AddressFamilyFilter.Any;
        host = "";
        port = 0;
        var separator = url.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0)
        {
            return $"expected a URL of the form {AcceptedForms}";
        }

        var scheme = url[..separator].ToLowerInvariant();
        family = scheme switch
        {
            "tcp" => AddressFamilyFilter.Any,
            "tcp4" => AddressFamilyFilter.V4,
            "tcp6" => AddressFamilyFilter.V6,
            _ => (AddressFamilyFilter)(-1),
        };
        if (!Enum.IsDefined(family))
        {
            return $"the scheme {echo.Of(url[..separator])} is not supported; use {AcceptedForms}";
        }

        var authority = url[(separator + 3)..];
        if (authority.Contains('@', StringComparison.Ordinal))
        {
            return "user info (user@ or user:password@) is not allowed in an upstream URL; put proxy credentials under via.auth";
        }

        if (authority.IndexOfAny(['/', '?', '#']) >= 0)
        {
            return $"an upstream URL has no path, query or fragment; expected {AcceptedForms}";
        }

        var error = AddressParser.ParseHostAndPort(authority, out host, out port, out var literal, echo);
        if (error is not null)
        {
            return error;
        }

        if (family == AddressFamilyFilter.V4 && literal is { AddressFamily: AddressFamily.InterNetworkV6 })
        {
            return "tcp4:// cannot take an IPv6 address";
        }

        if (family == AddressFamilyFilter.V6 && literal is { AddressFamily: AddressFamily.InterNetwork })
        {
            return "tcp6:// cannot take an IPv4 address";
        }

        if (literal is null && host.EndsWith('.'))
        {
            host = host[..^1];
        }

        return null;
    }
}
