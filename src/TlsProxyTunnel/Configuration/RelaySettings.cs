using System.Net;

namespace TlsProxyTunnel.Configuration;

/// <summary>What a server does with its connections: route them (every server before #14), or one of the reverse-relay roles.</summary>
internal enum ServerKind
{
    /// <summary>Accepts on <c>listen</c> and routes each connection (the default).</summary>
    Router,

    /// <summary><c>kind: tls_relay</c>: tx_tlsrelay's relay (control port, reverse and public port pairs).</summary>
    TlsRelay,

    /// <summary><c>kind: relay_publisher</c>: keeps a control channel to a relay; each <c>new_connection</c> is dialled and routed.</summary>
    RelayPublisher,
}

/// <summary>
/// <c>servers.NAME.relay</c> of a <c>tls_relay</c> server. The port layout is tx_tlsrelay's: with control port P and
/// <see cref="PortCount"/> N, reverse ports P+1..P+N/2 and public ports P+N/2+1..P+N; pair k is (P+1+k, P+N/2+1+k).
/// </summary>
internal sealed record RelaySettings
{
    /// <summary>The control port (the server's one <c>listen</c> address). Port 0: tpt picks a free block of N+1 ports.</summary>
    public required ListenAddress Control { get; init; }

    /// <summary><c>advertise_host</c> (tx_tlsrelay's <c>--myhost</c>): written verbatim in the <c>*_listener</c> lines.</summary>
    public string AdvertiseHost { get; init; } = "127.0.0.1";

    /// <summary><c>port_count</c>: even, at least 2.</summary>
    public int PortCount { get; init; } = 200;

    /// <summary><c>bind</c>: the address of the data ports; null binds them on the control address's IP.</summary>
    public IPAddress? Bind { get; init; }

    /// <summary><c>pending_timeout</c>: close a public client not paired for this long; null waits forever (the original).</summary>
    public TimeSpan? PendingTimeout { get; init; }

    /// <summary><c>max_pending_bytes</c>: what is buffered from one public client before pairing; reading stops at the cap.</summary>
    public int MaxPendingBytes { get; init; } = 64 * 1024;

    /// <summary><c>max_pending</c>: public clients waiting for a reverse connection per control session; more are closed at once.</summary>
    public int MaxPending { get; init; } = 1000;

    /// <summary>
    /// <c>ignore_control_input</c>: bytes a server sends on the control channel are discarded. False ends the session
    /// on the first line, as the original does.
    /// </summary>
    public bool IgnoreControlInput { get; init; } = true;

    public int PairCount => PortCount / 2;
}

/// <summary>The settings of a <c>relay_publisher</c> server.</summary>
internal sealed record PublisherSettings
{
    /// <summary><c>relay</c>: the relay's control address (host name or IP literal, without brackets).</summary>
    public required string Host { get; init; }

    public required int Port { get; init; }

    /// <summary><c>relay</c> as written, safe to log.</summary>
    public required string Display { get; init; }

    /// <summary>
    /// The control channel as an upstream, so its TLS (<c>relay_tls</c>, or <c>tls</c> given as a mapping) is built by the
    /// same code as any upstream's. Its <see cref="UpstreamConfig.Tls"/> is null for a plain control channel.
    /// </summary>
    public required UpstreamConfig Control { get; init; }

    /// <summary><c>backoff</c>: the wait before reconnecting after the control channel failed or ended.</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary><c>connect_timeout</c>: bounds the control connect and handshake, and each reverse dial.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
