using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>Pair k: reverse port P+1+k, public port P+N/2+1+k.</summary>
internal sealed class RelayPair(int index, Socket reverse, Socket @public)
{
    public int Index { get; } = index;

    public Socket ReverseListener { get; } = reverse;

    public Socket PublicListener { get; } = @public;

    public int ReversePort { get; } = ((IPEndPoint)reverse.LocalEndPoint!).Port;

    public int PublicPort { get; } = ((IPEndPoint)@public.LocalEndPoint!).Port;

    public volatile RelaySession? Session;
}
