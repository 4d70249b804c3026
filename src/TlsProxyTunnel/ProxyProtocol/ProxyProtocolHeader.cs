using System.Net;

namespace TlsProxyTunnel.ProxyProtocol;

/// <summary>What <see cref="ProxyProtocolParser"/> made of the bytes received so far.</summary>
internal enum ProxyProtocolStatus
{
    /// <summary>The bytes so far are a valid prefix of a PROXY header (or too few to tell); read more.</summary>
    NeedMoreData,

    /// <summary>A complete, valid header of <see cref="ProxyProtocolParse.Length"/> bytes.</summary>
    Header,

    /// <summary>The first bytes cannot start a PROXY header (v1 or v2): the client sent something else.</summary>
    Absent,

    /// <summary>A PROXY signature, but the header breaks the specification; <see cref="ProxyProtocolParse.Reason"/> says how.</summary>
    Invalid,
}

/// <summary>The v2 command: <c>LOCAL</c> is the proxy speaking for itself (health checks), addresses to be ignored.</summary>
internal enum ProxyCommand
{
    Local,
    Proxy,
}

/// <summary>The address family a header declares: v1 <c>UNKNOWN</c> and v2 <c>AF_UNSPEC</c> are <see cref="Unspecified"/>.</summary>
internal enum ProxyAddressFamily
{
    Unspecified,
    Inet,
    Inet6,
    Unix,
}

/// <summary>The v2 transport nibble; v1 headers are <see cref="Stream"/> (TCP4/TCP6) or <see cref="Unspecified"/>.</summary>
internal enum ProxyTransport
{
    Unspecified,
    Stream,
    Datagram,
}

/// <summary>A received PROXY header.</summary>
/// <param name="Version">1 or 2.</param>
/// <param name="Source">The original client; null when the header carries no IP addresses (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX).</param>
/// <param name="Destination">The address the original client connected to; null with <paramref name="Source"/>.</param>
internal sealed record ProxyProtocolHeader(int Version, ProxyCommand Command, ProxyAddressFamily Family, ProxyTransport Transport, IPEndPoint? Source, IPEndPoint? Destination)
{
    /// <summary>
    /// The header names the connection's real ends: a PROXY command with IP addresses. Otherwise (LOCAL, UNKNOWN,
    /// AF_UNSPEC, AF_UNIX) the receiver uses the socket's own addresses, as the specification says.
    /// </summary>
    public bool HasAddresses => Command == ProxyCommand.Proxy && Source is not null && Destination is not null;

    /// <summary>For logs: <c>v1 TCP4</c>, <c>v2 LOCAL</c>.</summary>
    public string Describe() => Command == ProxyCommand.Local
        ? $"v{Version} LOCAL"
        : $"v{Version} {Family switch { ProxyAddressFamily.Inet => Transport == ProxyTransport.Datagram ? "UDP4" : "TCP4", ProxyAddressFamily.Inet6 => Transport == ProxyTransport.Datagram ? "UDP6" : "TCP6", ProxyAddressFamily.Unix => "UNIX", _ => "UNKNOWN" }}";
}

/// <summary>The parser's verdict; <see cref="Header"/> and <see cref="Length"/> are set only with <see cref="ProxyProtocolStatus.Header"/>.</summary>
internal readonly record struct ProxyProtocolParse(ProxyProtocolStatus Status, ProxyProtocolHeader? Header = null, int Length = 0, string? Reason = null)
{
    public static readonly ProxyProtocolParse NeedMoreData = new(ProxyProtocolStatus.NeedMoreData);

    public static readonly ProxyProtocolParse Absent = new(ProxyProtocolStatus.Absent);

    public static ProxyProtocolParse Invalid(string reason) => new(ProxyProtocolStatus.Invalid, Reason: reason);
}
