using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// Loopback ports that were free a moment ago, for processes that log nothing to read a port 0 binding from
/// (prefer port 0 and reading the bound port back wherever the process reports it).
/// </summary>
public static class FreePort
{
    /// <summary>
    /// A port the OS picks for TCP: it is clear of every TCP socket, TIME_WAIT ones included (of which the
    /// suite leaves thousands on loopback).
    /// </summary>
    public static int Tcp()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>A <see cref="Tcp"/> port that is free for UDP too (dnsmasq binds both).</summary>
    public static int TcpAndUdp()
    {
        while (true)
        {
            var port = Tcp();
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // Taken for UDP: pick another.
            }
        }
    }

    /// <summary>
    /// The first of <paramref name="count"/> consecutive loopback ports that were all free a moment ago, below the
    /// ephemeral range (whose ports outgoing connections keep taking), for a relay's control and data ports
    /// where a process needs them before it starts.
    /// </summary>
    public static int TcpBlock(int count, IPAddress? address = null)
    {
        while (true)
        {
            var first = Random.Shared.Next(10000, 30000);
            var sockets = new List<Socket>();
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sockets.Add(socket);
                    socket.Bind(new IPEndPoint(address ?? IPAddress.Loopback, first + i));
                }

                return first;
            }
            catch (SocketException)
            {
                // Taken: another block.
            }
            finally
            {
                foreach (var socket in sockets)
                {
                    socket.Dispose();
                }
            }
        }
    }
}
