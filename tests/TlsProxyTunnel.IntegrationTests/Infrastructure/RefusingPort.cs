using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// A loopback port that refuses connections for as long as this lives: bound, never listening. A port found free
/// and released (<see cref="FreePort.Tcp"/>) may meanwhile be handed to any listener bound to port 0, in this test
/// process or a tpt of a test running beside it, and then the "dead" upstream answers.
/// </summary>
public sealed class RefusingPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public RefusingPort()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public void Dispose() => _socket.Dispose();
}
