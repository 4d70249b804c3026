using System.Collections.Concurrent;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>What one <c>tls_relay</c> server counts: control sessions, public and reverse connections, pairing.</summary>
internal sealed class RelayServerMetrics(string name, int pairs)
{
    private long _linked;
    private long _full;
    private long _publicQueued;
    private long _publicNoController;
    private long _publicPendingFull;
    private long _reversePaired;
    private long _reverseDeadEntry;
    private long _reverseNoPending;
    private long _reverseNoController;
    private long _pendingTimeouts;
    private long _pending;
    private long _activePairs;
    private long _toServer;
    private long _toClient;

    public string Name { get; } = name;

    public int Pairs { get; } = pairs;

    public long Linked => Interlocked.Read(ref _activePairs);

    public long Pending => Interlocked.Read(ref _pending);

    public void OnSession(bool linked) => Interlocked.Increment(ref linked ? ref _linked : ref _full);

    public void OnPairLinked(int delta) => Interlocked.Add(ref _activePairs, delta);

    public void OnPublicQueued()
    {
        Interlocked.Increment(ref _publicQueued);
        Interlocked.Increment(ref _pending);
    }

    public void OnPublicNoController() => Interlocked.Increment(ref _publicNoController);

    public void OnPublicPendingFull() => Interlocked.Increment(ref _publicPendingFull);

    /// <summary>A queued public client left the queue (paired, or dropped with its session).</summary>
    public void OnDequeued(int count = 1) => Interlocked.Add(ref _pending, -count);

    public void OnReverse(ReverseResult result)
    {
        switch (result)
        {
            case ReverseResult.Paired:
                Interlocked.Increment(ref _reversePaired);
                break;
            case ReverseResult.DeadEntry:
                Interlocked.Increment(ref _reverseDeadEntry);
                break;
            case ReverseResult.NoPending:
                Interlocked.Increment(ref _reverseNoPending);
                break;
            default:
                Interlocked.Increment(ref _reverseNoController);
                break;
        }
    }

    public void OnPendingTimeout() => Interlocked.Increment(ref _pendingTimeouts);

    public void OnBytes(long toServer, long toClient)
    {
        Interlocked.Add(ref _toServer, toServer);
        Interlocked.Add(ref _toClient, toClient);
    }

    internal void Collect(SampleSink sink, Family family)
    {
        switch (family)
        {
            case Family.Pairs:
                sink.Add(Linked, ("name", Name), ("state", "linked"));
                sink.Add(Pairs - Linked, ("name", Name), ("state", "free"));
                break;
            case Family.Sessions:
                sink.Add(Interlocked.Read(ref _linked), ("name", Name), ("result", "linked"));
                sink.Add(Interlocked.Read(ref _full), ("name", Name), ("result", "no_available_listeners"));
                break;
            case Family.Public:
                sink.Add(Interlocked.Read(ref _publicQueued), ("name", Name), ("result", "queued"));
                sink.Add(Interlocked.Read(ref _publicNoController), ("name", Name), ("result", "no_controller"));
                sink.Add(Interlocked.Read(ref _publicPendingFull), ("name", Name), ("result", "pending_full"));
                break;
            case Family.Reverse:
                sink.Add(Interlocked.Read(ref _reversePaired), ("name", Name), ("result", "paired"));
                sink.Add(Interlocked.Read(ref _reverseDeadEntry), ("name", Name), ("result", "client_left"));
                sink.Add(Interlocked.Read(ref _reverseNoPending), ("name", Name), ("result", "no_pending"));
                sink.Add(Interlocked.Read(ref _reverseNoController), ("name", Name), ("result", "no_controller"));
                break;
            case Family.Pending:
                sink.Add(Pending, ("name", Name));
                break;
            case Family.PendingTimeouts:
                sink.Add(Interlocked.Read(ref _pendingTimeouts), ("name", Name));
                break;
            case Family.Bytes:
                sink.Add(Interlocked.Read(ref _toServer), ("name", Name), ("direction", "to_server"));
                sink.Add(Interlocked.Read(ref _toClient), ("name", Name), ("direction", "to_client"));
                break;
        }
    }

    internal enum Family
    {
        Pairs,
        Sessions,
        Public,
        Reverse,
        Pending,
        PendingTimeouts,
        Bytes,
    }
}

/// <summary>How a connection to a reverse port ended up.</summary>
internal enum ReverseResult
{
    Paired,

    /// <summary>Its public client had left before pairing: it got that client's bytes and was closed.</summary>
    DeadEntry,

    NoPending,
    NoController,
}

/// <summary>What one <c>relay_publisher</c> server counts; <see cref="PublicAddress"/> is the address the relay gave it.</summary>
internal sealed class PublisherMetrics(string name, string relay)
{
    private long _dialed;
    private long _dialFailed;
    private long _sessions;
    private volatile string? _publicAddress;

    public string Name { get; } = name;

    public string Relay { get; } = relay;

    /// <summary>The public address of the current control session; null while not linked.</summary>
    public string? PublicAddress
    {
        get => _publicAddress;
        set => _publicAddress = value;
    }

    public void OnSession() => Interlocked.Increment(ref _sessions);

    public void OnDial(bool ok) => Interlocked.Increment(ref ok ? ref _dialed : ref _dialFailed);

    internal long Sessions => Interlocked.Read(ref _sessions);

    internal long Dialed => Interlocked.Read(ref _dialed);

    internal long DialFailed => Interlocked.Read(ref _dialFailed);
}

/// <summary>The reverse-relay families (issue #14): one series set per relay and per publisher server.</summary>
internal sealed class RelayMetrics : IMetricSource
{
    private readonly ConcurrentDictionary<string, RelayServerMetrics> _relays = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PublisherMetrics> _publishers = new(StringComparer.Ordinal);

    public RelayServerMetrics Relay(string name, int pairs) => _relays.AddOrUpdate(
        name,
        static (n, p) => new RelayServerMetrics(n, p),
        static (n, existing, p) => existing.Pairs == p ? existing : new RelayServerMetrics(n, p),
        pairs);

    public PublisherMetrics Publisher(string name, string relay) => _publishers.GetOrAdd(name, static (n, r) => new PublisherMetrics(n, r), relay);

    public void Declare(MetricRegistry registry)
    {
        Relays(registry, "tpt_relay_pairs", "Port pairs of a tls_relay server by state (linked to a control session, or free)", RelayServerMetrics.Family.Pairs, gauge: true);
        Relays(registry, "tpt_relay_control_sessions_total", "Control sessions by result: given a pair, or told no_available_listeners", RelayServerMetrics.Family.Sessions);
        Relays(registry, "tpt_relay_public_connections_total", "Connections to public ports: queued for pairing, refused with no controller linked, or closed because max_pending was reached", RelayServerMetrics.Family.Public);
        Relays(registry, "tpt_relay_reverse_connections_total", "Connections to reverse ports: paired, given a public client that had left, nothing pending, or no controller linked", RelayServerMetrics.Family.Reverse);
        Relays(registry, "tpt_relay_pending", "Public clients waiting for a reverse connection", RelayServerMetrics.Family.Pending, gauge: true);
        Relays(registry, "tpt_relay_pending_timeouts_total", "Public clients closed because no reverse connection came within pending_timeout", RelayServerMetrics.Family.PendingTimeouts);
        Relays(registry, "tpt_relay_bytes_total", "Bytes relayed between public clients and reverse connections", RelayServerMetrics.Family.Bytes);

        registry.Gauge("tpt_relay_publisher_connected", "1 while a relay_publisher server holds a control session with its relay", sink =>
        {
            foreach (var p in SortedPublishers())
            {
                sink.Add(p.PublicAddress is null ? 0 : 1, ("name", p.Name), ("relay", p.Relay));
            }
        });

        // An info gauge: the address is a label, so a dashboard shows where the service is published now.
        registry.Gauge("tpt_relay_publisher_info", "The public address the relay gave a relay_publisher server (value 1 while linked)", sink =>
        {
            foreach (var p in SortedPublishers())
            {
                if (p.PublicAddress is { } address)
                {
                    sink.Add(1, ("name", p.Name), ("relay", p.Relay), ("public_address", address));
                }
            }
        });
        registry.Counter("tpt_relay_publisher_sessions_total", "Control sessions a relay_publisher server was given a pair in", sink =>
        {
            foreach (var p in SortedPublishers())
            {
                sink.Add(p.Sessions, ("name", p.Name));
            }
        });
        registry.Counter("tpt_relay_publisher_reverse_dials_total", "Reverse connections dialled for new_connection, by result", sink =>
        {
            foreach (var p in SortedPublishers())
            {
                sink.Add(p.Dialed, ("name", p.Name), ("result", "ok"));
                sink.Add(p.DialFailed, ("name", p.Name), ("result", "failed"));
            }
        });
    }

    private void Relays(MetricRegistry registry, string name, string help, RelayServerMetrics.Family family, bool gauge = false)
    {
        void Collect(SampleSink sink)
        {
            foreach (var relay in _relays.Values.OrderBy(r => r.Name, StringComparer.Ordinal))
            {
                relay.Collect(sink, family);
            }
        }

        if (gauge)
        {
            registry.Gauge(name, help, Collect);
        }
        else
        {
            registry.Counter(name, help, Collect);
        }
    }

    private IEnumerable<PublisherMetrics> SortedPublishers() => _publishers.Values.OrderBy(p => p.Name, StringComparer.Ordinal);
}
