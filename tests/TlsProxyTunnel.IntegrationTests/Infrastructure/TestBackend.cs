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
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly bool _echo;
    private readonly byte[] _banner;
    private readonly Task _acceptLoop;
    private int _accepted;

    /// <param name="address">Where to listen; other loopback addresses (127.0.0.2, …) let DNS tests tell backends apart by address.</param>
    /// <param name="port">0 lets the OS choose; a concrete port lets two backends share one port on different addresses.</param>
    public TestBackend(string tag, bool echo = true, bool banner = true, IPAddress? address = null, int port = 0)
    {
        Tag = tag;
        _listener = new TcpListener(address ?? IPAddress.Loopback, port);
        _echo = echo;
        _banner = banner ? Encoding.ASCII.GetBytes($"BKND:{tag}\r\n") : [];
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public string Tag { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public IPAddress ListenAddress => ((IPEndPoint)_listener.LocalEndpoint).Address;

    public string Address => $"{ListenAddress}:{Port}";

    public int Accepted => Volatile.Read(ref _accepted);

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

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
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
                var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    sawEof = true;
                    socket.Shutdown(SocketShutdown.Send);
                    break;
                }

                received.Write(buffer, 0, read);
                if (_echo)
                {
                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }

        Finished.Add(new BackendConnection(received.ToArray(), sawEof));
    }
}
