using System.Collections.Concurrent;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>Why a datagram was not passed on.</summary>
internal enum DatagramDrop
{
    /// <summary>A new client beyond <c>udp.max_sessions</c>.</summary>
    MaxSessions,

    /// <summary>The session's queue (128 datagrams) was full: its connections could not keep up.</summary>
    QueueFull,

    /// <summary>The UDP send failed (no route, port unreachable, no buffer space).</summary>
    SendFailed,

    /// <summary>A frame longer than a datagram may be: its connection was closed.</summary>
    TooLong,

    /// <summary>The session ended with datagrams still queued.</summary>
    SessionClosed,
}

/// <summary>Datagram counters of one server (a UDP server, or a <c>decapsulate</c> one), updated with Interlocked.</summary>
internal sealed class DatagramServerMetrics(string name)
{
    private readonly long[] _drops = new long[Enum.GetValues<DatagramDrop>().Length];
    private long _sessions;
    private long _sessionsTotal;
    private long _connections;
    private long _datagramsIn;
    private long _datagramsOut;
    private long _bytesIn;
    private long _bytesOut;

    public string Name { get; } = name;

    public long Sessions => Interlocked.Read(ref _sessions);

    public long SessionsTotal => Interlocked.Read(ref _sessionsTotal);

    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Datagrams from the clients' side towards the upstream.</summary>
    public long DatagramsIn => Interlocked.Read(ref _datagramsIn);

    /// <summary>Datagrams from the upstream's side back to the clients.</summary>
    public long DatagramsOut => Interlocked.Read(ref _datagramsOut);

    public long BytesIn => Interlocked.Read(ref _bytesIn);

    public long BytesOut => Interlocked.Read(ref _bytesOut);

    public long Drops(DatagramDrop reason) => Interlocked.Read(ref _drops[(int)reason]);

    public void OnSessionStarted()
    {
        Interlocked.Increment(ref _sessions);
        Interlocked.Increment(ref _sessionsTotal);
    }

    public void OnSessionEnded() => Interlocked.Decrement(ref _sessions);

    public void OnConnectionOpened() => Interlocked.Increment(ref _connections);

    public void OnConnectionClosed() => Interlocked.Decrement(ref _connections);

    public void OnIn(int bytes)
    {
        Interlocked.Increment(ref _datagramsIn);
        Interlocked.Add(ref _bytesIn, bytes);
    }

    public void OnOut(int bytes)
    {
        Interlocked.Increment(ref _datagramsOut);
        Interlocked.Add(ref _bytesOut, bytes);
    }

    public void OnDrop(DatagramDrop reason) => Interlocked.Increment(ref _drops[(int)reason]);
}

/// <summary>The datagram families: sessions, datagrams and bytes each way, drops by reason, uotp connections.</summary>
internal sealed class DatagramMetrics : IMetricSource
{
    private readonly ConcurrentDictionary<string, DatagramServerMetrics> _servers = new(StringComparer.Ordinal);

    public DatagramServerMetrics Server(string name) => _servers.GetOrAdd(name, static n => new DatagramServerMetrics(n));

    public void Declare(MetricRegistry registry)
    {
        registry.Gauge("tpt_udp_sessions", "Datagram sessions open now (UDP clients of a udp server, session ids of a decapsulate server)", sink =>
        {
            foreach (var s in Sorted())
            {
                sink.Add(s.Sessions, ("name", s.Name));
            }
        });
        registry.Counter("tpt_udp_sessions_total", "Datagram sessions started", sink =>
        {
            foreach (var s in Sorted())
            {
                sink.Add(s.SessionsTotal, ("name", s.Name));
            }
        });
        registry.Gauge("tpt_uotp_connections", "uotp connections open now (to the upstream for a udp server, from clients for a decapsulate server)", sink =>
        {
            foreach (var s in Sorted())
            {
                sink.Add(s.Connections, ("name", s.Name));
            }
        });
        registry.Counter("tpt_udp_datagrams_total", "Datagrams passed on, by direction (in: from clients towards the upstream; out: back)", sink =>
        {
            foreach (var s in Sorted())
            {
                sink.Add(s.DatagramsIn, ("name", s.Name), ("direction", "in"));
                sink.Add(s.DatagramsOut, ("name", s.Name), ("direction", "out"));
            }
        });
        registry.Counter("tpt_udp_bytes_total", "Datagram payload bytes passed on, by direction", sink =>
        {
            foreach (var s in Sorted())
            {
                sink.Add(s.BytesIn, ("name", s.Name), ("direction", "in"));
                sink.Add(s.BytesOut, ("name", s.Name), ("direction", "out"));
            }
        });
        registry.Counter("tpt_udp_dropped_total", "Datagrams dropped, by reason", sink =>
        {
            foreach (var s in Sorted())
            {
                foreach (var reason in Enum.GetValues<DatagramDrop>())
                {
                    sink.Add(s.Drops(reason), ("name", s.Name), ("reason", Label(reason)));
                }
            }
        });
    }

    public static string Label(DatagramDrop reason) => reason switch
    {
        DatagramDrop.MaxSessions => "max_sessions",
        DatagramDrop.QueueFull => "queue_full",
        DatagramDrop.SendFailed => "send_failed",
        DatagramDrop.TooLong => "too_long",
        DatagramDrop.SessionClosed => "session_closed",
        _ => "unknown",
    };

    private IEnumerable<DatagramServerMetrics> Sorted() => _servers.Values.OrderBy(s => s.Name, StringComparer.Ordinal);
}
