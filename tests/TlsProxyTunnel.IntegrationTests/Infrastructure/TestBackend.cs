using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>What a backend saw on one connection.</summary>
public sealed record BackendConnection(byte[] Received, bool SawEof);

/// <summary>
/// A real loopback TCP backend: sends a banner naming itself, then echoes (or just records) every byte,
/// and half-closes when the client does. Each finished connection is queued for assertions.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly bool _echo;
    private readonly byte[] _banner;
    private readonly AcceptLoop _server;

    /// <param name="address">Where to listen; other loopback addresses (127.0.0.2, …) let DNS tests tell backends apart by address.</param>
    /// <param name="port">0 lets the OS choose; a concrete port lets two backends share one port on different addresses.</param>
    public TestBackend(string tag, bool echo = true, bool banner = true, IPAddress? address = null, int port = 0)
    {
        Tag = tag;
        _echo = echo;
        _banner = banner ? Encoding.ASCII.GetBytes($"BKND:{tag}\r\n") : [];
        _server = new AcceptLoop(ServeAsync, address, port);
    }

    public string Tag { get; }

    public int Port => _server.EndPoint.Port;

    public IPAddress ListenAddress => _server.EndPoint.Address;

    public string Address => $"{ListenAddress}:{Port}";

    public int Accepted => (int)_server.Accepted;

    public BlockingCollection<BackendConnection> Finished { get; } = [];

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));

    public BackendConnection NextFinished(TimeSpan? timeout = null)
    {
        if (!Finished.TryTake(out var connection, timeout ?? TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException($"backend {Tag} saw no finished connection in time");
        }

        return connection;
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task ServeAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var _ = socket;
        var received = new MemoryStream();
        var sawEof = false;
        try
        {
            if (_banner.Length > 0)
            {
                await socket.SendAsync(_banner, SocketFlags.None);
            }

            var buffer = new byte[65536];
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    sawEof = true;
                    socket.Shutdown(SocketShutdown.Send);
                    break;
                }

                received.Write(buffer, 0, read);
                if (_echo)
                {
                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, CancellationToken.None);
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }

        Finished.Add(new BackendConnection(received.ToArray(), sawEof), CancellationToken.None);
    }
}
