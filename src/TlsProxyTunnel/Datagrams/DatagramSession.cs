using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Datagrams;

/// <summary>What every session of a UDP server knows: its client, the socket replies go out on, its server's counters.</summary>
/// <param name="Reply">The listening socket the client sent to: replies leave from the address it expects.</param>
internal sealed record DatagramSessionContext(string Server, string Listen, Socket Reply, SocketAddress Client, string ClientText, DatagramServerMetrics Metrics);

/// <summary>
/// One client address of a UDP server. The listener hands it datagrams (<see cref="Offer"/>), which wait in a bounded
/// queue of pooled buffers for whatever carries them upstream; replies go straight back to the client. Traffic either
/// way keeps it alive; the listener ends it after <c>udp.idle_timeout</c> without any.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The token source has no timer or wait handle to release, and the session's tasks read its token after Close, which a disposed source would throw on.")]
internal abstract class DatagramSession
{
    // Beyond its bounds datagrams are dropped and counted (the original crashes the session instead on its server side).
    private readonly FrameQueue _queue = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _lastActivity = Environment.TickCount64;
    private long _datagramsIn;
    private long _bytesIn;
    private long _datagramsOut;
    private long _bytesOut;
    private long _dropped;
    private int _closed;

    protected DatagramSession(DatagramSessionContext context)
    {
        Context = context;
    }

    public DatagramSessionContext Context { get; }

    public long LastActivity => Volatile.Read(ref _lastActivity);

    public long DatagramsIn => Interlocked.Read(ref _datagramsIn);

    public long BytesIn => Interlocked.Read(ref _bytesIn);

    public long DatagramsOut => Interlocked.Read(ref _datagramsOut);

    public long BytesOut => Interlocked.Read(ref _bytesOut);

    public long Dropped => Interlocked.Read(ref _dropped);

    public TimeSpan Age => Stopwatch.GetElapsedTime(_started);

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>The session id (uotp) or "-".</summary>
    public virtual string SessionText => "-";

    /// <summary>Where datagrams go now, for the access log.</summary>
    public abstract string UpstreamAddress { get; }

    /// <summary>Connections opened over the session's life (uotp); 0 for plain UDP.</summary>
    public virtual int ConnectionsOpened => 0;

    protected CancellationToken Closing => _closing.Token;

    protected ChannelReader<OutboundFrame> Queue => _queue;

    public abstract void Start();

    /// <summary>A datagram from the client; false when the queue was full (it is dropped and counted).</summary>
    public bool Offer(ReadOnlySpan<byte> datagram)
    {
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        if (TrySendNow(datagram))
        {
            return true;
        }

        var frame = OutboundFrame.Create(datagram);
        if (_queue.TryEnqueue(frame))
        {
            return true;
        }

        frame.Return();
        OnDropped(DatagramDrop.QueueFull);
        return false;
    }

    /// <summary>
    /// Sends <paramref name="datagram"/> on at once, from the listener's loop, when nothing is queued before it and
    /// the way out cannot block (a connected UDP socket): no queue, no hop to another thread. False to queue it.
    /// </summary>
    protected virtual bool TrySendNow(ReadOnlySpan<byte> datagram) => false;

    /// <summary>Nothing waits in the queue (so a datagram sent now keeps its order).</summary>
    protected bool QueueEmpty => Queue.Count == 0;

    /// <summary>A datagram from the upstream back to the client, from the listening socket.</summary>
    protected void Reply(ReadOnlySpan<byte> datagram)
    {
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        try
        {
            Context.Reply.SendTo(datagram, SocketFlags.None, Context.Client);
            Interlocked.Increment(ref _datagramsOut);
            Interlocked.Add(ref _bytesOut, datagram.Length);
            Context.Metrics.OnOut(datagram.Length);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            OnDropped(DatagramDrop.SendFailed);
        }
    }

    /// <summary>A queued datagram went upstream.</summary>
    protected void OnSent(int length)
    {
        Interlocked.Increment(ref _datagramsIn);
        Interlocked.Add(ref _bytesIn, length);
        Context.Metrics.OnIn(length);
    }

    protected void OnDropped(DatagramDrop reason)
    {
        Interlocked.Increment(ref _dropped);
        Context.Metrics.OnDrop(reason);
    }

    /// <summary>Ends the session: its connections or socket closed, what is still queued dropped.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _queue.Complete();
        _closing.Cancel();
        OnClosing();
        while (_queue.TryRead(out var left))
        {
            left.Return();
            OnDropped(DatagramDrop.SessionClosed);
        }
    }

    /// <summary>Releases what the session holds (sockets, connections); called once, from <see cref="Close"/>.</summary>
    protected abstract void OnClosing();
}

/// <summary>
/// What a UDP server's default upstream opens per client: a plain UDP forward or a uotp tunnel. It is the upstream of
/// the server's route too (for the status page, explain and metrics), though no stream connection ever reaches it.
/// </summary>
internal interface IDatagramUpstream : Upstreams.IUpstream
{
    bool Upstreams.IUpstream.ServesInline => true;

    ValueTask<Connections.ConnectionOutcome> Upstreams.IUpstream.ServeAsync(Connections.ClientConnection connection, Runtime.Route route) =>
        ValueTask.FromResult(Connections.ConnectionOutcome.Banned);

    UpstreamKeyText Key { get; }

    DatagramSession Open(DatagramSessionContext context);
}

/// <summary>An upstream's settings as text, to tell whether a reload changed them (sessions stay when not).</summary>
internal readonly record struct UpstreamKeyText(string Value);
