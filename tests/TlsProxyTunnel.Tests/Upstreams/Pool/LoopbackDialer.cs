using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using TlsProxyTunnel.Upstreams.Pool;

namespace TlsProxyTunnel.Tests.Upstreams.Pool;

/// <summary>
/// A pool dialer to a real loopback listener in this process: plain TCP, every dial counted, each one waiting for a
/// permit (so a test decides when the next connection exists), and the server side of each kept for the test.
/// </summary>
internal sealed class LoopbackDialer : IPoolDialer, IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly SemaphoreSlim _permits;
    private readonly Channel<Socket> _accepted = Channel.CreateUnbounded<Socket>();
    private readonly List<Socket> _all = [];
    private readonly List<DateTimeOffset> _dialTimes = [];
    private int _dials;

    public LoopbackDialer(int permits = int.MaxValue / 2)
    {
        _permits = new SemaphoreSlim(permits);
        _listener.Start();
        _ = AcceptAsync();
    }

    public string Display => "tcp://loopback";

    public int Dials => Volatile.Read(ref _dials);

    /// <summary>Set to record when (by this clock) each dial began.</summary>
    public TimeProvider? Clock { get; set; }

    public IReadOnlyList<DateTimeOffset> DialTimes
    {
        get
        {
            lock (_dialTimes)
            {
                return [.. _dialTimes];
            }
        }
    }

    public void Permit(int count = 1) => _permits.Release(count);

    public async ValueTask<PoolDial> DialAsync(CancellationToken stop)
    {
        try
        {
            await _permits.WaitAsync(stop);
        }
        catch (OperationCanceledException)
        {
            return new PoolDial(null, "stopped");
        }

        Interlocked.Increment(ref _dials);
        if (Clock is { } clock)
        {
            lock (_dialTimes)
            {
                _dialTimes.Add(clock.GetUtcNow());
            }
        }
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_listener.LocalEndpoint, stop);
        return new PoolDial(new PooledConnection(socket, null, socket.RemoteEndPoint!, null, ReadOnlyMemory<byte>.Empty), null);
    }

    /// <summary>The server side of the next connection made.</summary>
    public async Task<Socket> NextAcceptedAsync() => await _accepted.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    public void Dispose()
    {
        _listener.Stop();
        lock (_all)
        {
            foreach (var socket in _all)
            {
                socket.Dispose();
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            lock (_all)
            {
                _all.Add(socket);
            }

            _accepted.Writer.TryWrite(socket);
        }
    }
}
