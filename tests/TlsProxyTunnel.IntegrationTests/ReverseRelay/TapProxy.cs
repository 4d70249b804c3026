using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.ReverseRelay;

/// <summary>A loopback forwarder that keeps every byte its clients sent, to show what crossed the relay.</summary>
internal sealed class TapProxy : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly IPEndPoint _target;
    private readonly MemoryStream _seen = new();

    public TapProxy(IPEndPoint target)
    {
        _target = target;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>What clients sent towards the target, all connections in order.</summary>
    public byte[] Seen
    {
        get
        {
            lock (_seen)
            {
                return _seen.ToArray();
            }
        }
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptAsync();
                var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await server.ConnectAsync(_target);
                _ = PumpAsync(client, server, record: true);
                _ = PumpAsync(server, client, record: false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Disposed.
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool record)
    {
        var buffer = new byte[16384];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None)) > 0)
            {
                if (record)
                {
                    lock (_seen)
                    {
                        _seen.Write(buffer, 0, read);
                    }
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public void Dispose() => _listener.Dispose();
}
