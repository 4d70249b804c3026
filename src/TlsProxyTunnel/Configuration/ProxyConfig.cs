using System.Net;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.ProxyProtocol;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// A loaded and validated configuration. Everything the runtime needs is already parsed
/// (endpoints, URLs, durations); nothing here is re-validated on the hot path.
/// </summary>
internal sealed record ProxyConfig
{
    /// <summary>The file the configuration came from, for messages.</summary>
    public required string SourcePath { get; init; }

    public required int Version { get; init; }

    /// <summary>Top-level <c>log</c>: a level or an env_logger filter; TPT_LOG and RUST_LOG replace it.</summary>
    public LogFilter Log { get; init; } = LogFilter.Info;

    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary>Top-level <c>shutdown_timeout</c>: how long a graceful shutdown drains connections.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public ResolverSettings Resolver { get; init; } = new();

    /// <summary>Servers in file order.</summary>
    public required IReadOnlyList<ServerConfig> Servers { get; init; }

    /// <summary>Every upstream by name, the built-ins (<c>ban</c>, <c>echo</c>, <c>health</c>) included.</summary>
    public required IReadOnlyDictionary<string, UpstreamConfig> Upstreams { get; init; }

    /// <summary>
    /// The absolute paths of the certificate, key and CA files this configuration was built from, each once: what a
    /// reload re-reads, and what a watcher would have to watch besides the configuration file to see a rotation.
    /// </summary>
    public IReadOnlyList<string> CertificateFiles { get; init; } = [];
}

internal enum LogFormat
{
    Text,

    /// <summary>tls-proxy-tunnel's fields: ts, level, target, msg.</summary>
    Json,

    /// <summary>.NET's JSON console format (Timestamp, EventId, LogLevel, Category, Message, State).</summary>
    JsonDotnet,
}

internal enum ListenProtocol
{
    Tcp,
    Tcp4,
    Tcp6,

    /// <summary><c>protocol: udp</c>: a UDP listener; each client address is a session (<see cref="ServerConfig.Udp"/>).</summary>
    Udp,
}

/// <summary>A UDP server's <c>udp</c>: how its sessions (one per client address) live.</summary>
internal sealed record UdpSettings
{
    public static readonly UdpSettings Default = new();

    /// <summary>A session with no datagram either way for this long ends (uotp-client's -e).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Sessions at once; a datagram from a new client beyond this is dropped and counted.</summary>
    public int MaxSessions { get; init; } = 1024;
}

/// <summary>What a stream carries besides plain bytes: <c>decapsulate</c> on a server, <c>encapsulate</c> on an upstream.</summary>
internal enum DatagramFraming
{
    None,

    /// <summary>udp-over-tls-pool: 16 bytes of session id per connection, then datagrams as u16 big-endian length + payload.</summary>
    Uotp,
}

internal sealed record ServerConfig
{
    public required string Name { get; init; }

    public required IReadOnlyList<ListenAddress> Listen { get; init; }

    public ListenProtocol Protocol { get; init; } = ListenProtocol.Tcp;

    public bool Tls { get; init; }

    /// <summary>SNI routes in file order. Patterns are normalised: lower case, no trailing dot.</summary>
    public IReadOnlyList<SniRouteConfig> Sni { get; init; } = [];

    /// <summary>Upstream name used when no SNI route matches.</summary>
    public string Default { get; init; } = "ban";

    /// <summary><see cref="Default"/> as written (<c>${NAME}</c>) when it came from the environment, so output can show that instead; null otherwise.</summary>
    public string? DefaultWritten { get; init; }

    /// <summary>The server's via; <see cref="ViaConfig.Direct"/> when none is configured.</summary>
    public ViaConfig Via { get; init; } = ViaConfig.Direct;

    /// <summary>Concurrent connections across all of this server's listen addresses.</summary>
    public int MaxClients { get; init; } = 100;

    public int ClientHelloMaxBytes { get; init; } = 16 * 1024;

    public TimeSpan ClientHelloTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Close connections with no traffic either way for this long; null means never.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Close a connection when a send to either side makes no progress for this long; null means never.</summary>
    public TimeSpan? WriteTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary><c>terminate_tls</c>: decrypt client TLS; null relays the bytes as they are.</summary>
    public TerminateTlsSettings? TerminateTls { get; init; }

    /// <summary><c>transparent</c>: each client's original destination is read from netfilter (SO_ORIGINAL_DST), for <c>original_dst</c>.</summary>
    public bool Transparent { get; init; }

    /// <summary>
    /// <c>proxy_protocol</c>: read a PROXY header (v1 or v2) from each client, before the ClientHello, or inside
    /// TLS on a <c>terminate_tls</c> server.
    /// </summary>
    public ProxyProtocolAccept ProxyProtocol { get; init; } = ProxyProtocolAccept.Off;

    /// <summary><c>kind</c>: a router (the default), a reverse relay, or a publisher through one.</summary>
    public ServerKind Kind { get; init; } = ServerKind.Router;

    /// <summary>The <c>relay</c> block of a <c>tls_relay</c> server; null for other kinds.</summary>
    public RelaySettings? Relay { get; init; }

    /// <summary>The relay a <c>relay_publisher</c> server publishes through; null for other kinds.</summary>
    public PublisherSettings? Publisher { get; init; }

    /// <summary><c>capture</c>: every relayed chunk written to a file in prox.py's format; null when off.</summary>
    public CaptureSettings? Capture { get; init; }

    /// <summary><c>filters</c>: built-in byte transforms per direction, in file order; empty when none.</summary>
    public IReadOnlyList<FilterSettings> Filters { get; init; } = [];

    /// <summary>A UDP server's sessions (<c>protocol: udp</c>); <see cref="UdpSettings.Default"/> when <c>udp</c> is not written.</summary>
    public UdpSettings Udp { get; init; } = UdpSettings.Default;

    /// <summary><c>decapsulate</c>: the client's bytes are framed datagrams for a <c>udp://</c> upstream (uotp-server).</summary>
    public DatagramFraming Decapsulate { get; init; }

    /// <summary><c>engine</c>: the socket layer asked for; auto leaves it to <c>TPT_ENGINE</c>, then to the platform (<see cref="Engine.EngineSelection"/>).</summary>
    public EngineChoice Engine { get; init; }

    public bool IsUdp => Protocol == ListenProtocol.Udp;
}

/// <summary>A server's <c>proxy_protocol</c>.</summary>
internal enum ProxyProtocolAccept
{
    Off,

    /// <summary>A header is read when the client sends one; a client without one goes on as it is.</summary>
    Accept,

    /// <summary>Every client must send a header first; one without is closed (<c>proxy_header_invalid</c>).</summary>
    Require,
}

/// <summary>Where an upstream's PROXY header goes: <c>proxy_protocol_placement</c>.</summary>
internal enum ProxyProtocolPlacement
{
    /// <summary>In clear before any byte, before the TLS handshake (HAProxy's <c>send-proxy</c>).</summary>
    BeforeTls,

    /// <summary>As the first application bytes inside the upstream TLS session (ptw).</summary>
    InsideTls,
}

/// <param name="EndPoint">The parsed address.</param>
/// <param name="Text">The address as the file wrote it (before environment expansion), safe to log.</param>
internal sealed record ListenAddress(IPEndPoint EndPoint, string Text)
{
    public override string ToString() => Text;
}

/// <param name="Pattern">An exact host name or <c>*.suffix</c>, normalised (lower case, no trailing dot).</param>
/// <param name="Upstream">The upstream name.</param>
/// <param name="Via">The entry's own via, which replaces the server's; null inherits the server's.</param>
internal sealed record SniRouteConfig(string Pattern, string Upstream, ViaConfig? Via)
{
    /// <summary><see cref="Upstream"/> as written (<c>${NAME}</c>) when it came from the environment; null otherwise.</summary>
    public string? UpstreamWritten { get; init; }
}

internal enum UpstreamKind
{
    Tcp,
    Ban,
    Echo,
    Health,

    /// <summary><c>udp://host:port</c>: datagrams forwarded on one connected UDP socket per session.</summary>
    Udp,
}

internal enum AddressFamilyFilter
{
    /// <summary><c>tcp://</c>: IPv4 and IPv6.</summary>
    Any,

    /// <summary><c>tcp4://</c>: A records only.</summary>
    V4,

    /// <summary><c>tcp6://</c>: AAAA records only.</summary>
    V6,
}

internal sealed record UpstreamConfig
{
    public required string Name { get; init; }

    public required UpstreamKind Kind { get; init; }

    /// <summary>For <see cref="UpstreamKind.Tcp"/>: host name or IP literal (IPv6 without brackets).</summary>
    public string Host { get; init; } = "";

    public int Port { get; init; }

    public AddressFamilyFilter Family { get; init; } = AddressFamilyFilter.Any;

    /// <summary>The URL as written in the file, before environment expansion; safe to log.</summary>
    public string Display { get; init; } = "";

    /// <summary>
    /// <c>address: original_dst</c>: no address of its own; each connection goes to the client's original destination
    /// (<see cref="Connections.ClientConnection.OriginalDestination"/>). <see cref="Host"/> and <see cref="Port"/> are unset.
    /// </summary>
    public bool ConnectsToOriginalDestination { get; init; }

    /// <summary>The mapping form's <c>connect_timeout</c> (TCP connect and TLS handshake); null leaves the via's.</summary>
    public TimeSpan? ConnectTimeout { get; init; }

    /// <summary>The mapping form's <c>tls</c>: originate TLS to this upstream; null relays the bytes as they are.</summary>
    public UpstreamTlsSettings? Tls { get; init; }

    /// <summary>The mapping form's <c>proxy_protocol</c>: the PROXY header version sent first; null sends none.</summary>
    public ProxyProtocolVersion? ProxyProtocol { get; init; }

    /// <summary>
    /// <c>proxy_protocol_placement</c>, its default resolved: inside the upstream TLS session when <see cref="Tls"/>
    /// is set (ptw), else before any byte (HAProxy's send-proxy). Meaningful only with <see cref="ProxyProtocol"/>.
    /// </summary>
    public ProxyProtocolPlacement ProxyProtocolPlacement { get; init; } = ProxyProtocolPlacement.BeforeTls;

    /// <summary>The mapping form's <c>pool</c>: keep connections ready (TCP, CONNECT and TLS done); null dials per client.</summary>
    public PoolSettings? Pool { get; init; }

    /// <summary>
    /// Set when the URL came (wholly or partly) from the environment, so <see cref="Host"/> may be a secret: what
    /// runtime messages show instead, naming the upstream. Null when the file wrote the host.
    /// </summary>
    public string? HiddenHost { get; init; }

    /// <summary><c>encapsulate</c>: datagrams framed over <see cref="Connections"/> TCP (or TLS) connections per session (uotp-client).</summary>
    public DatagramFraming Encapsulate { get; init; }

    /// <summary><c>connections</c>: connections per session that <see cref="Encapsulate"/> keeps open (uotp -n).</summary>
    public int Connections { get; init; } = 8;

    /// <summary><c>backoff</c>: how long a failed encapsulating connection waits before it reconnects (uotp -B).</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary><c>resolve_once</c>: the address is resolved once, on first use, and kept (uotp -R).</summary>
    public bool ResolveOnce { get; init; }

    /// <summary><c>so_mark</c>: SO_MARK on the sockets this upstream opens (uotp -m); null sets none.</summary>
    public uint? SoMark { get; init; }

    public static string HiddenHostText(string upstream) => $"the host of upstream {DiagnosticText.Quote(upstream)} {ValueEcho.HiddenText}";

    public static UpstreamConfig BuiltIn(string name, UpstreamKind kind) => new() { Name = name, Kind = kind, Display = name };

    public override string ToString() => Display;
}

/// <summary>An HTTP CONNECT proxy hop in front of a TCP upstream.</summary>
internal sealed record ViaConfig
{
    public static readonly ViaConfig Direct = new();

    /// <summary>Static CONNECT authority <c>host:port</c>, already validated; null when not set.</summary>
    public string? Target { get; init; }

    /// <summary><see cref="Target"/> as written in the file, safe to log.</summary>
    public string? TargetDisplay { get; init; }

    public bool UseSniAsTarget { get; init; }

    public int TargetPort { get; init; } = 443;

    /// <summary>Bounds the TCP connect (all addresses tried) to the upstream or proxy.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bounds the CONNECT exchange; defaults to <see cref="ConnectTimeout"/>.</summary>
    public TimeSpan? HandshakeTimeout { get; init; }

    /// <summary>Log bytes in flight at this interval while a tunnel is up; null means off.</summary>
    public TimeSpan? StatsInterval { get; init; }

    /// <summary>Extra CONNECT headers in file order, <c>via.auth</c>'s Proxy-Authorization included.</summary>
    public IReadOnlyList<ProxyHeader> Headers { get; init; } = [];

    /// <summary>No CONNECT is ever sent: the upstream is reached directly.</summary>
    public bool IsDirect => Target is null && !UseSniAsTarget;

    public TimeSpan EffectiveHandshakeTimeout => HandshakeTimeout ?? ConnectTimeout;
}

/// <param name="Name">An HTTP token.</param>
/// <param name="Value">The expanded value (never contains CR or LF).</param>
/// <param name="Sensitive">True when the value must never be shown: it came from the environment or is a credential.</param>
internal sealed record ProxyHeader(string Name, string Value, bool Sensitive)
{
    public override string ToString() => Sensitive ? $"{Name}: <redacted>" : $"{Name}: {Value}";
}

internal sealed record ResolverSettings
{
    /// <summary>Name servers to ask; empty means the system's (resolv.conf).</summary>
    public IReadOnlyList<IPEndPoint> Nameservers { get; init; } = [];

    public TimeSpan MinTtl { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long the last good answer keeps serving after lookups start failing.</summary>
    public TimeSpan StaleFor { get; init; } = TimeSpan.FromMinutes(1);
}
