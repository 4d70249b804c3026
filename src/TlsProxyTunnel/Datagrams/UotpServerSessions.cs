using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Datagrams;

/// <summary>
/// The server role's sessions of one <c>udp://</c> upstream, keyed by the 16 bytes each connection starts with
/// (never by the TCP peer: a client's connections may come from anywhere). A session holds one UDP socket connected
/// to the upstream, opened by its first connection and closed with its last; a later connection with the same id
/// starts afresh (a new source port, which WireGuard tolerates: it roams).
/// </summary>
internal sealed class UotpServerSessions(DatagramDialer dialer, ILogger logger)
{
    private readonly Dictionary<Guid, UotpServerSession> _sessions = [];
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Joins (or opens) the session <paramref name="id"/>; null when its UDP socket could not be opened (logged).</summary>
    public async ValueTask<UotpServerSession?> JoinAsync(Guid id, string server, DatagramServerMetrics metrics)
    {
        UotpServerSession session;
        bool opener;
        lock (_lock)
        {
            opener = !_sessions.TryGetValue(id, out var existing);
            session = existing ?? (_sessions[id] = new UotpServerSession(id, server, dialer.Upstream.Display, metrics, logger));
            session.References++;
        }

        if (opener)
        {
            var dialed = await dialer.ConnectUdpAsync(CancellationToken.None);
            if (dialed.Value is { } socket)
            {
                session.Open(socket, dialed.EndPoint!);
            }
            else
            {
                Log.UdpUpstreamUnreachable(logger, server, dialer.Upstream.Display, dialed.Error ?? "unknown error");
                session.Fail();
            }
        }

        if (!await session.Ready)
        {
            Leave(session);
            return null;
        }

        return session;
    }

    public void Leave(UotpServerSession session)
    {
        lock (_lock)
        {
            if (--session.References > 0)
            {
                return;
            }

            if (_sessions.TryGetValue(session.Id, out var current) && current == session)
            {
                _sessions.Remove(session.Id);
            }
        }

        session.Close();
    }

    /// <summary>Shutdown: every session's socket closed, whatever its connections are doing.</summary>
    public void CloseAll()
    {
        UotpServerSession[] all;
        lock (_lock)
        {
            all = [.. _sessions.Values];
            _sessions.Clear();
        }

        foreach (var session in all)
        {
            session.Close();
        }
    }
}

/// <summary>One session id's UDP socket to the upstream, shared by all of its connections.</summary>
internal sealed class UotpServerSession(Guid id, string server, string upstream, DatagramServerMetrics metrics, ILogger logger)
{
    private readonly TaskCompletionSource<bool> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Datagrams towards the connections; beyond the queue's bounds they are dropped and counted.
    private readonly FrameQueue _replies = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private Socket? _socket;
    private IPEndPoint? _destination;
    private int _closed;
    private long _datagramsIn;
    private long _bytesIn;
    private long _datagramsOut;
    private long _bytesOut;
    private long _dropped;
    private int _connectionsEver;

    public Guid Id { get; } = id;

    /// <summary>Connections joined and not yet left; guarded by the table's lock.</summary>
    public int References { get; set; }

    public Task<bool> Ready => _ready.Task;

    public IPEndPoint? Destination => _destination;

    /// <summary>Datagrams from the upstream, framed, for whichever of the connections is free first.</summary>
    public ChannelReader<OutboundFrame> Replies => _replies;

    public void Open(Socket socket, IPEndPoint destination)
    {
        _socket = socket;
        _destination = destination;
        metrics.OnSessionStarted();
        _ = Task.Run(ReceiveLoopAsync);
        _ready.TrySetResult(true);
    }

    public void Fail()
    {
        Interlocked.Exchange(ref _closed, 1);
        _ready.TrySetResult(false);
    }

    public void OnConnectionJoined() => Interlocked.Increment(ref _connectionsEver);

    /// <summary>A datagram from one of the connections to the upstream; a failed send is counted and dropped.</summary>
    public void Send(ReadOnlySpan<byte> datagram)
    {
        try
        {
            _socket!.Send(datagram, SocketFlags.None);
            Interlocked.Increment(ref _datagramsIn);
            Interlocked.Add(ref _bytesIn, datagram.Length);
            metrics.OnIn(datagram.Length);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _dropped);
            metrics.OnDrop(DatagramDrop.SendFailed);
        }
    }

    public void OnReplySent(int length)
    {
        Interlocked.Increment(ref _datagramsOut);
        Interlocked.Add(ref _bytesOut, length);
        metrics.OnOut(length);
    }

    private async Task ReceiveLoopAsync()
    {
        var socket = _socket!;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(UotpFrames.MaxFrame);
        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                int received;
                try
                {
                    received = await socket.ReceiveAsync(buffer.AsMemory(0, UotpFrames.MaxFrame), SocketFlags.None, CancellationToken.None);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
                {
                    // ICMP unreachable from an earlier send: the upstream is not listening (yet); keep the session.
                    continue;
                }

                var frame = OutboundFrame.Create(buffer.AsSpan(0, received));
                if (!_replies.TryEnqueue(frame))
                {
                    frame.Return();
                    Interlocked.Increment(ref _dropped);
                    metrics.OnDrop(DatagramDrop.QueueFull);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Closed with the session.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            _replies.Complete();
        }
    }

    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _socket?.Dispose();
        _replies.Complete();
        while (_replies.TryRead(out var left))
        {
            left.Return();
        }

        metrics.OnSessionEnded();
        if (logger.IsEnabled(LogLevel.Information))
        {
            Log.UotpSessionAccess(
                logger,
                Id.ToString(),
                server,
                upstream,
                _destination?.ToString() ?? "-",
                Interlocked.Read(ref _datagramsIn),
                Interlocked.Read(ref _bytesIn),
                Interlocked.Read(ref _datagramsOut),
                Interlocked.Read(ref _bytesOut),
                Interlocked.Read(ref _dropped),
                Volatile.Read(ref _connectionsEver),
                (long)Stopwatch.GetElapsedTime(_started).TotalMilliseconds,
                "completed");
        }
    }
}
