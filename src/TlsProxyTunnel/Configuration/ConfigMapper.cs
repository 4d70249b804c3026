using TlsProxyTunnel.Configuration.Yaml;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Engine;
using TlsProxyTunnel.ProxyProtocol;
using TlsProxyTunnel.Routing;
using YamlDotNet.Core;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Maps the node tree onto <see cref="ProxyConfig"/> by hand (no reflection, so Native AOT stays clean and
/// every error can name its key and position). Checks that need the whole file are left to
/// <see cref="ConfigValidator"/>; this class records where each listen address and upstream reference was.
/// </summary>
internal sealed class ConfigMapper
{
    internal static readonly IReadOnlyList<string> TopLevelKeys =
        ["version", "log", "log-format", "servers", "upstream", "via", "shutdown_timeout", "resolver"];

    internal static readonly IReadOnlyList<string> ServerKeys =
        ["listen", "protocol", "tls", "sni", "default", "via", "maxclients", "client_hello_max_bytes", "client_hello_timeout", "idle_timeout", "write_timeout", "terminate_tls", "transparent", "proxy_protocol", "capture", "filters", "udp", "decapsulate", "engine"];

    /// <summary>The mapping form of an upstream; a plain string is its <c>address</c> alone.</summary>
    internal static readonly IReadOnlyList<string> UpstreamKeys = ["address", "connect_timeout", "tls", "pool", "proxy_protocol", "proxy_protocol_placement", "encapsulate", "connections", "backoff", "resolve_once", "so_mark"];

    internal static readonly IReadOnlyList<string> UdpKeys = ["idle_timeout", "max_sessions"];

    /// <summary>The keys only an upstream with <c>encapsulate</c> uses.</summary>
    private static readonly IReadOnlyList<string> EncapsulationKeys = ["connections", "backoff", "resolve_once"];

    private static readonly Dictionary<string, DatagramFraming> Framings = new(StringComparer.Ordinal)
    {
        ["uotp"] = DatagramFraming.Uotp,
    };

    internal static readonly IReadOnlyList<string> ResolverKeys = ["nameservers", "min_ttl", "max_ttl", "timeout", "stale_for"];

    private static readonly IReadOnlyList<string> SniEntryKeys = ["upstream", "via"];

    private static readonly Dictionary<string, string> TopLevelSynonyms = new(StringComparer.Ordinal) { ["log_format"] = "log-format" };

    private static readonly Dictionary<string, ListenProtocol> Protocols = new(StringComparer.Ordinal)
    {
        ["tcp"] = ListenProtocol.Tcp,
        ["tcp4"] = ListenProtocol.Tcp4,
        ["tcp6"] = ListenProtocol.Tcp6,
        ["udp"] = ListenProtocol.Udp,
    };

    private static readonly Dictionary<string, ProxyProtocolAccept> ProxyProtocolAccepts = new(StringComparer.Ordinal)
    {
        ["accept"] = ProxyProtocolAccept.Accept,
        ["require"] = ProxyProtocolAccept.Require,
        ["off"] = ProxyProtocolAccept.Off,
    };

    private static readonly Dictionary<string, ProxyProtocolVersion> ProxyProtocolVersions = new(StringComparer.Ordinal)
    {
        ["v1"] = ProxyProtocolVersion.V1,
        ["v2"] = ProxyProtocolVersion.V2,
    };

    private static readonly Dictionary<string, ProxyProtocolPlacement> ProxyProtocolPlacements = new(StringComparer.Ordinal)
    {
        ["inside_tls"] = ProxyProtocolPlacement.InsideTls,
        ["before_tls"] = ProxyProtocolPlacement.BeforeTls,
    };

    internal static readonly IReadOnlyDictionary<string, UpstreamKind> BuiltInUpstreams = new Dictionary<string, UpstreamKind>(StringComparer.Ordinal)
    {
        ["ban"] = UpstreamKind.Ban,
        ["echo"] = UpstreamKind.Echo,
        ["health"] = UpstreamKind.Health,
    };

    /// <summary>The upstream address that means "where the client meant to go" (transparent mode, PROXY headers).</summary>
    internal const string OriginalDestinationAddress = "original_dst";

    private readonly string _path;
    private readonly DiagnosticBag _diagnostics;
    private readonly ValueReader _values;
    private readonly ViaReader _vias;
    private readonly TlsReader _tls;
    private readonly RelayReader _relays;
    private readonly InspectionReader _inspection;
    private readonly PoolReader _pools;
    private readonly bool _linuxSupported;

    private ConfigMapper(string path, DiagnosticBag diagnostics, string baseDirectory, TimeProvider time, bool linuxSupported)
    {
        _path = path;
        _linuxSupported = linuxSupported;
        _diagnostics = diagnostics;
        _values = new ValueReader(diagnostics);
        _vias = new ViaReader(_values);
        _tls = new TlsReader(_values, baseDirectory, time);
        _relays = new RelayReader(_values, _tls);
        _inspection = new InspectionReader(_values, baseDirectory);
        _pools = new PoolReader(_values);
    }

    /// <param name="Where">The listen entry's position.</param>
    /// <param name="Udp">A UDP listener: it never clashes with a TCP one on the same address.</param>
    internal sealed record ListenUse(string Server, ListenAddress Address, Mark Where, bool Udp = false);

    /// <param name="Usage">How the name was used, for messages: "default of server 'web'".</param>
    /// <param name="Shown">The name for messages: as written, never a value from the environment.</param>
    /// <param name="Hidden">The name came from the environment, so no "did you mean" is offered (it would hint at the value).</param>
    internal sealed record UpstreamReference(string Name, Mark Where, string Usage, string Shown, bool Hidden = false);

    /// <param name="Config">Null when something required is missing; the diagnostics say what.</param>
    internal sealed record Mapped(ProxyConfig? Config, IReadOnlyList<ListenUse> Listens, IReadOnlyList<UpstreamReference> References, IReadOnlyDictionary<string, Mark> UserUpstreams);

    private Dictionary<string, UpstreamConfig> _upstreams = new(StringComparer.Ordinal);

    private readonly List<ListenUse> _listens = [];
    private readonly List<UpstreamReference> _references = [];
    private readonly Dictionary<string, Mark> _userUpstreams = new(StringComparer.Ordinal);

    /// <param name="baseDirectory">What relative file paths (certificates, keys) resolve against: the configuration file's directory.</param>
    /// <param name="time">The clock certificates' expiry is checked against.</param>
    /// <param name="linuxSupported">Whether the Linux engine can run here: <c>engine: linux</c> is an error where it cannot.</param>
    public static Mapped Map(ConfigNode? root, string path, DiagnosticBag diagnostics, string baseDirectory, TimeProvider time, bool linuxSupported) =>
        new ConfigMapper(path, diagnostics, baseDirectory, time, linuxSupported).Map(root);

    private Mapped Map(ConfigNode? root)
    {
        if (root is null or ConfigScalar { IsNull: true })
        {
            _diagnostics.Error(new Mark(0, 1, 1), "the configuration is empty; expected a mapping with at least 'version' and 'servers'");
            return Result(null);
        }

        if (Section.Open(root, "the configuration file", TopLevelKeys, _diagnostics, TopLevelSynonyms) is not { } top)
        {
            return Result(null);
        }

        int? version = null;
        if (top.Get("version") is { } versionNode)
        {
            version = _values.Int("version", versionNode, 1, 2);
        }
        else
        {
            _diagnostics.Error(root.Start, "'version' is required (1 or 2)");
        }

        var log = top.Get("log") is { } logNode ? ReadLog(logNode) : null;
        var format = top.Get("log-format") is { } formatNode ? _values.Choice(top.Entry("log-format")!.Key.Value, formatNode, LogFormatNames.Table) : null;
        var shutdown = top.Get("shutdown_timeout") is { } shutdownNode ? _values.Duration("shutdown_timeout", shutdownNode) : null;
        var resolver = top.Get("resolver") is { } resolverNode ? ReadResolver(resolverNode) : new ResolverSettings();

        // The top-level via only holds an anchor; it is still read so its mistakes are reported.
        _ = _vias.Read(top.Get("via"), "the top-level 'via'");

        var upstreams = _upstreams = ReadUpstreams(top.Get("upstream"));
        IReadOnlyList<ServerConfig>? servers = null;
        if (top.Get("servers") is { } serversNode)
        {
            servers = ReadServers(serversNode);
        }
        else
        {
            _diagnostics.Error(root.Start, "'servers' is required: a mapping of server name to its settings");
        }

        if (version is null || servers is null)
        {
            return Result(null);
        }

        CheckPooledRoutes(servers, upstreams);

        var config = new ProxyConfig
        {
            SourcePath = _path,
            Version = version.Value,
            Log = log ?? LogFilter.Info,
            LogFormat = format ?? LogFormat.Text,
            ShutdownTimeout = shutdown ?? TimeSpan.FromSeconds(30),
            Resolver = resolver,
            Servers = servers,
            Upstreams = upstreams,
            CertificateFiles = [.. _tls.Files],
        };
        return Result(config);
    }

    /// <summary>Every way a route reaches a pooled upstream must be one a connection can be made for ahead of the client.</summary>
    private void CheckPooledRoutes(IReadOnlyList<ServerConfig> servers, Dictionary<string, UpstreamConfig> upstreams)
    {
        foreach (var server in servers)
        {
            if (upstreams.TryGetValue(server.Default, out var fallback))
            {
                PoolReader.CheckVia(fallback, server.Via, $"'default' of server {DiagnosticText.Quote(server.Name)}", _diagnostics);
            }

            foreach (var route in server.Sni)
            {
                if (upstreams.TryGetValue(route.Upstream, out var upstream))
                {
                    PoolReader.CheckVia(upstream, route.Via ?? server.Via, $"sni {DiagnosticText.Quote(route.Pattern)} of server {DiagnosticText.Quote(server.Name)}", _diagnostics);
                }
            }
        }
    }

    private Mapped Result(ProxyConfig? config) => new(config, _listens, _references, _userUpstreams);

    private Dictionary<string, UpstreamConfig> ReadUpstreams(ConfigNode? node)
    {
        var upstreams = new Dictionary<string, UpstreamConfig>(StringComparer.Ordinal);
        foreach (var (name, kind) in BuiltInUpstreams)
        {
            upstreams[name] = UpstreamConfig.BuiltIn(name, kind);
        }

        if (node is null)
        {
            return upstreams;
        }

        if (Section.MappingOf(node, "'upstream' must be a mapping of upstream name to URL", _diagnostics) is not { } mapping)
        {
            return upstreams;
        }

        foreach (var entry in mapping.Entries)
        {
            var name = entry.Key.Value;
            if (BuiltInUpstreams.ContainsKey(name))
            {
                _diagnostics.Error(entry.Key.Start, $"{DiagnosticText.Quote(name)} is a built-in upstream (ban, echo, health) and cannot be redefined; choose another name");
                continue;
            }

            if (name.Length == 0)
            {
                _diagnostics.Error(entry.Key.Start, "an upstream needs a name");
                continue;
            }

            _userUpstreams[name] = entry.Key.Start;
            if ((entry.Value is ConfigMapping ? ReadUpstreamMapping(name, entry.Value) : ReadAddress(name, entry.Value)) is { } upstream)
            {
                upstreams[name] = upstream;
            }
        }

        return upstreams;
    }

    /// <summary>An upstream's URL (the plain form, or the mapping form's <c>address</c>).</summary>
    private UpstreamConfig? ReadAddress(string name, ConfigNode node)
    {
        if (_values.Scalar($"upstream.{DiagnosticText.Printable(name)}", node, $"a URL ({UpstreamUrlParser.AcceptedForms}) or a mapping with 'address'") is not { } url)
        {
            return null;
        }

        if (url.Value.Trim() == OriginalDestinationAddress)
        {
            return new UpstreamConfig { Name = name, Kind = UpstreamKind.Tcp, ConnectsToOriginalDestination = true, Display = OriginalDestinationAddress };
        }

        // udp://, udp4:// and udp6:// name an address as their tcp forms do; only the transport differs.
        var text = url.Value.Trim();
        var kind = UpstreamKind.Tcp;
        if (text.StartsWith("udp", StringComparison.OrdinalIgnoreCase) && text.IndexOf("://", StringComparison.Ordinal) is var scheme and (3 or 4))
        {
            kind = UpstreamKind.Udp;
            text = "tcp" + text[3..];
        }

        var error = UpstreamUrlParser.Parse(text, out var family, out var host, out var port, url.Echo);
        if (error is not null)
        {
            error = kind == UpstreamKind.Udp ? error.Replace("tcp", "udp", StringComparison.Ordinal) : error;
            _diagnostics.Error(url.Start, $"upstream {DiagnosticText.Quote(name)}: {url.Shown} is not valid: {error}");
            return null;
        }

        return new UpstreamConfig { Name = name, Kind = kind, Host = host, Port = port, Family = family, Display = url.Raw, HiddenHost = url.Expanded ? UpstreamConfig.HiddenHostText(name) : null };
    }

    /// <summary><c>upstream.NAME: {address, connect_timeout, tls}</c>.</summary>
    private UpstreamConfig? ReadUpstreamMapping(string name, ConfigNode node)
    {
        var what = $"upstream {DiagnosticText.Quote(name)}";
        if (Section.Open(node, what, UpstreamKeys, _diagnostics) is not { } section)
        {
            return null;
        }

        UpstreamConfig? upstream = null;
        if (section.Get("address") is { } addressNode)
        {
            upstream = ReadAddress(name, addressNode);
        }
        else
        {
            _diagnostics.Error(node.Start, $"{what} needs 'address': a URL ({UpstreamUrlParser.AcceptedForms})");
        }

        TimeSpan? connectTimeout = section.Get("connect_timeout") is { } timeoutNode ? _values.Duration("connect_timeout", timeoutNode) : null;
        var tls = section.Get("tls") is { } tlsNode ? _tls.ReadUpstream(tlsNode, what) : null;
        if (upstream is { ConnectsToOriginalDestination: true } && tls is { ServerName: null, ServerNameFromClient: false, Verify: TlsVerifyMode.Full })
        {
            // The address is only known per connection, so there is no host name to send and check.
            _diagnostics.Error(section.Entry("tls")!.Key.Start, $"{what} connects to original_dst, which has no host name to check the certificate against: set 'tls.server_name' (or 'verify: chain')");
        }

        var pool = section.Get("pool") is { } poolNode ? _pools.Read(poolNode, section.Entry("pool")!.Key.Start, what, tls) : null;
        var (proxyProtocol, placement) = ReadProxyProtocolSend(section, what, tls is not null || section.Get("tls") is not null);
        if (upstream is null)
        {
            return null;
        }

        upstream = upstream with { ConnectTimeout = connectTimeout, Tls = tls, Pool = pool, ProxyProtocol = proxyProtocol, ProxyProtocolPlacement = placement };
        PoolReader.CheckProxyProtocolBeforeTls(upstream, proxyProtocol is not null && placement == ProxyProtocolPlacement.BeforeTls, _diagnostics);
        return ReadEncapsulation(section, what, upstream);
    }

    /// <summary><c>encapsulate</c> and the keys that go with it (uotp-client's -n, -B, -R, -m).</summary>
    private UpstreamConfig ReadEncapsulation(Section section, string what, UpstreamConfig upstream)
    {
        if (section.Get("encapsulate") is { } framingNode && _values.Choice("encapsulate", framingNode, Framings) is { } framing)
        {
            if (upstream.Kind != UpstreamKind.Tcp || upstream.ConnectsToOriginalDestination)
            {
                _diagnostics.Error(framingNode.Start, $"'encapsulate' of {what} needs a tcp:// address: the datagrams travel over TCP (or TLS) connections to it");
            }

            if (upstream.ProxyProtocol is not null)
            {
                _diagnostics.Error(section.Entry("proxy_protocol")!.Key.Start, $"'proxy_protocol' of {what} cannot go with 'encapsulate': a uotp server reads the session id first");
            }

            upstream = upstream with { Encapsulate = framing };
        }
        else if (upstream.Kind == UpstreamKind.Udp && (section.Get("tls") ?? section.Get("proxy_protocol")) is { } streamOnly)
        {
            _diagnostics.Error(streamOnly.Start, $"{what} is a udp:// address: 'tls' and 'proxy_protocol' are for stream upstreams");
        }

        if (upstream.Encapsulate == DatagramFraming.None)
        {
            foreach (var key in EncapsulationKeys)
            {
                if (section.Entry(key) is { } unused)
                {
                    _diagnostics.Warning(unused.Key.Start, $"{DiagnosticText.Quote(key)} of {what} does nothing without 'encapsulate: uotp'");
                }
            }
        }

        if (section.Int("connections", _values, 1, 1024) is { } connections)
        {
            upstream = upstream with { Connections = connections };
        }

        if (section.Duration("backoff", _values, allowOff: true) is { } backoff)
        {
            upstream = upstream with { Backoff = backoff };
        }

        if (section.Bool("resolve_once", _values) is { } once)
        {
            upstream = upstream with { ResolveOnce = once };
        }

        if (section.Get("so_mark") is { } markNode && _values.Scalar("so_mark", markNode, "a firewall mark (decimal or 0x hexadecimal)") is { } mark)
        {
            if (ParseMark(mark.Value.Trim()) is { } value)
            {
                upstream = upstream with { SoMark = value };
            }
            else
            {
                _diagnostics.Error(markNode.Start, $"'so_mark' of {what}: {mark.Shown} is not a firewall mark; expected a number from 0 to 4294967295, decimal or 0x hexadecimal");
            }
        }

        return upstream;
    }

    /// <summary>A firewall mark as uotp's -m takes it: decimal or <c>0x</c> hexadecimal, below 2^32.</summary>
    internal static uint? ParseMark(string text)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return uint.TryParse(text.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var hex) ? hex : null;
        }

        return uint.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    /// <summary>
    /// <c>proxy_protocol</c> and <c>proxy_protocol_placement</c> of an upstream. The placement defaults to inside the
    /// TLS session when the upstream has <c>tls</c> (as ptw), else before any byte (as HAProxy's send-proxy).
    /// </summary>
    /// <remarks>
    /// With a warm pool (<c>pool</c>), <c>before_tls</c> is refused (<see cref="PoolReader.CheckProxyProtocolBeforeTls"/>):
    /// the header depends on the client, and a pooled connection did its handshake before any client came.
    /// </remarks>
    private (ProxyProtocolVersion? Version, ProxyProtocolPlacement Placement) ReadProxyProtocolSend(Section section, string what, bool hasTls)
    {
        var version = section.Get("proxy_protocol") is { } versionNode ? _values.Choice("proxy_protocol", versionNode, ProxyProtocolVersions) : null;
        var placement = hasTls ? ProxyProtocolPlacement.InsideTls : ProxyProtocolPlacement.BeforeTls;
        if (section.Get("proxy_protocol_placement") is { } placementNode && _values.Choice("proxy_protocol_placement", placementNode, ProxyProtocolPlacements) is { } chosen)
        {
            if (chosen == ProxyProtocolPlacement.InsideTls && !hasTls)
            {
                _diagnostics.Error(placementNode.Start, $"'proxy_protocol_placement: inside_tls' of {what} needs 'tls': without it there is no TLS session to put the header in; remove the placement (the header then goes before any byte) or add 'tls'");
            }
            else if (section.Get("proxy_protocol") is null)
            {
                _diagnostics.Warning(section.Entry("proxy_protocol_placement")!.Key.Start, $"'proxy_protocol_placement' of {what} does nothing without 'proxy_protocol' (v1 or v2)");
            }

            placement = chosen;
        }

        return (version, placement);
    }

    private List<ServerConfig>? ReadServers(ConfigNode node)
    {
        if (Section.MappingOf(node, "'servers' must be a mapping of server name to its settings", _diagnostics) is not { } mapping)
        {
            return null;
        }

        if (mapping.Entries.Count == 0)
        {
            _diagnostics.Error(node.Start, "'servers' must define at least one server");
        }

        var servers = new List<ServerConfig>();
        foreach (var entry in mapping.Entries)
        {
            if (ReadServer(entry.Key.Value, entry.Key.Start, entry.Value) is { } server)
            {
                servers.Add(server);
            }
        }

        return servers;
    }

    private ServerConfig? ReadServer(string name, Mark nameMark, ConfigNode node)
    {
        var what = $"server {DiagnosticText.Quote(name)}";
        if (Section.Open(node, what, [.. ServerKeys, .. RelayReader.ServerKeys], _diagnostics) is not { } section)
        {
            return null;
        }

        var kind = _relays.ReadKind(section);
        _relays.CheckKeys(section, kind, what);
        if (kind == ServerKind.TlsRelay)
        {
            return ReadRelayServer(name, nameMark, section, what);
        }

        var firstReference = _references.Count;
        var protocolNode = section.Get("protocol");
        var protocol = protocolNode is null ? null : _values.Choice("protocol", protocolNode, Protocols);
        var server = kind == ServerKind.RelayPublisher
            ? new ServerConfig { Name = name, Kind = kind, Listen = [], Publisher = _relays.ReadPublisher(section, name, nameMark, what) }
            : new ServerConfig { Name = name, Listen = ReadListen(name, nameMark, section.Get("listen"), protocol == ListenProtocol.Udp) };
        if (protocol is { } chosenProtocol)
        {
            server = server with { Protocol = chosenProtocol };
            WarnOnFamilyMismatch(server, protocolNode!);
        }

        server = server with { Engine = ReadEngine(section, what, server.IsUdp) };

        if (section.Get("udp") is { } udpNode)
        {
            server = server with { Udp = ReadUdp(udpNode, what) };
        }

        if (section.Get("decapsulate") is { } decapsulateNode && _values.Choice("decapsulate", decapsulateNode, Framings) is { } decapsulate)
        {
            server = server with { Decapsulate = decapsulate };
        }

        // On a publisher, tls given as a mapping is the control channel's (RelayReader), not routing on SNI.
        if (!(kind == ServerKind.RelayPublisher && section.Get("tls") is ConfigMapping) && section.Bool("tls", _values) is { } tls)
        {
            server = server with { Tls = tls };
        }

        if (section.Get("terminate_tls") is { } terminateNode)
        {
            // The hello is read (and routed on) before the handshake, as with tls: true, which it therefore implies.
            if (section.Get("tls") is { } explicitTls && _values.Bool("tls", explicitTls) == false)
            {
                _diagnostics.Error(explicitTls.Start, $"'tls: false' contradicts 'terminate_tls' of {what}: terminating TLS reads the ClientHello first; remove 'tls' or set it to true");
            }

            server = server with { Tls = true, TerminateTls = _tls.ReadTerminate(terminateNode, section.Entry("terminate_tls")!.Key.Start, what) };
        }

        if (section.Get("capture") is { } captureNode)
        {
            server = server with { Capture = _inspection.ReadCapture(captureNode, what) };
        }

        if (section.Get("filters") is { } filtersNode)
        {
            server = server with { Filters = _inspection.ReadFilters(filtersNode, what) };
        }

        if (section.Bool("transparent", _values) is { } transparent)
        {
            server = server with { Transparent = transparent };
        }

        if (section.Get("proxy_protocol") is { } proxyNode && _values.Choice("proxy_protocol", proxyNode, ProxyProtocolAccepts) is { } accept)
        {
            server = server with { ProxyProtocol = accept };
        }

        if (section.Get("default") is { } defaultNode && _values.Scalar("default", defaultNode, "a text value") is { } defaultName)
        {
            server = server with { Default = defaultName.Value, DefaultWritten = defaultName.Expanded ? defaultName.Raw : null };
            _references.Add(new UpstreamReference(defaultName.Value, defaultNode.Start, $"'default' of {what}", defaultName.Shown, defaultName.Expanded));
        }
        else
        {
            _references.Add(new UpstreamReference(server.Default, nameMark, $"'default' of {what}", DiagnosticText.Quote(server.Default)));
        }

        if (_vias.Read(section.Get("via"), $"'via' of {what}") is { } via)
        {
            server = server with { Via = via };
        }

        if (section.Int("maxclients", _values, 1, int.MaxValue) is { } maxClients)
        {
            server = server with { MaxClients = maxClients };
        }

        if (section.Int("client_hello_max_bytes", _values, 512, 1024 * 1024) is { } helloBytes)
        {
            server = server with { ClientHelloMaxBytes = helloBytes };
        }

        if (section.Duration("client_hello_timeout", _values) is { } helloTimeout)
        {
            server = server with { ClientHelloTimeout = helloTimeout };
        }

        if (section.Duration("idle_timeout", _values, allowOff: true) is { } idle)
        {
            server = server with { IdleTimeout = idle == TimeSpan.Zero ? null : idle };
        }

        if (section.Get("write_timeout") is { } writeNode && _values.Duration("write_timeout", writeNode, allowOff: true) is { } write)
        {
            server = server with { WriteTimeout = write == TimeSpan.Zero ? null : write };
        }

        if (section.Get("sni") is { } sniNode)
        {
            var routes = ReadSni(what, sniNode);
            if (!server.Tls && section.Entry("sni") is { } sniEntry)
            {
                _diagnostics.Warning(sniEntry.Key.Start, $"'sni' of {what} routes nothing because 'tls' is not true (its names and upstreams are still checked)");
            }
            else
            {
                server = server with { Sni = routes };
            }
        }

        // The references read since this server began are its default's and its SNI routes'.
        OriginalDestinationRules.Check(server, _references.Skip(firstReference), _upstreams, _diagnostics);
        DatagramRules.Check(server, section, _references.Skip(firstReference), _upstreams, _diagnostics);
        return server;
    }

    /// <summary>
    /// A <c>tls_relay</c> server: its one <c>listen</c> address is the control port (bound by the relay with its data
    /// ports, not by the listeners, so <see cref="ServerConfig.Listen"/> stays empty); the connection keys still apply
    /// to control connections.
    /// </summary>
    private ServerConfig? ReadRelayServer(string name, Mark nameMark, Section section, string what)
    {
        var listen = ReadListen(name, nameMark, section.Get("listen"), udp: false);
        if (listen.Count > 1 && section.Get("listen") is { } listenNode)
        {
            _diagnostics.Error(listenNode.Start, $"'listen' of {what} (kind tls_relay) must hold exactly one address: the control port, which the data ports follow");
        }
        else if (listen.Count == 0 && section.Get("listen") is { } emptyNode)
        {
            _diagnostics.Error(emptyNode.Start, $"'listen' of {what} (kind tls_relay) needs the control port's address");
        }

        var server = new ServerConfig { Name = name, Kind = ServerKind.TlsRelay, Listen = [], Relay = _relays.ReadRelay(section, listen.FirstOrDefault(), nameMark, what), Engine = ReadEngine(section, what, udp: false) };
        if (section.Get("terminate_tls") is { } terminateNode)
        {
            server = server with { Tls = true, TerminateTls = _tls.ReadTerminate(terminateNode, section.Entry("terminate_tls")!.Key.Start, what) };
        }

        if (section.Int("maxclients", _values, 1, int.MaxValue) is { } maxClients)
        {
            server = server with { MaxClients = maxClients };
        }

        if (section.Duration("client_hello_timeout", _values) is { } helloTimeout)
        {
            server = server with { ClientHelloTimeout = helloTimeout };
        }

        if (section.Duration("idle_timeout", _values, allowOff: true) is { } idle)
        {
            server = server with { IdleTimeout = idle == TimeSpan.Zero ? null : idle };
        }

        if (section.Get("write_timeout") is { } writeNode && _values.Duration("write_timeout", writeNode, allowOff: true) is { } write)
        {
            server = server with { WriteTimeout = write == TimeSpan.Zero ? null : write };
        }

        return server;
    }

    /// <summary>
    /// <c>engine</c>. An explicit <c>linux</c> is refused where it could only be ignored (a UDP server: datagrams
    /// always run on sockets) or cannot run (<see cref="EngineSelection.TryResolve(EngineChoice, EngineChoice, bool, out EngineKind, out string?)"/>
    /// decides), rather than quietly running on sockets.
    /// </summary>
    private EngineChoice ReadEngine(Section section, string what, bool udp)
    {
        if (section.Get("engine") is not { } node || _values.Choice("engine", node, EngineChoiceNames.Table) is not { } engine)
        {
            return EngineChoice.Auto;
        }

        if (engine == EngineChoice.Linux && udp)
        {
            _diagnostics.Error(node.Start, $"'engine: linux' of {what} does not apply to 'protocol: udp': UDP listeners always run on the sockets engine; use 'auto' or 'sockets', or remove it");
            return EngineChoice.Auto;
        }

        if (!EngineSelection.TryResolve(engine, EngineChoice.Auto, _linuxSupported, out _, out var error))
        {
            _diagnostics.Error(node.Start, $"'engine: linux' of {what}: {error}");
            return EngineChoice.Auto;
        }

        return engine;
    }

    private UdpSettings ReadUdp(ConfigNode node, string what)
    {
        var udp = UdpSettings.Default;
        if (Section.Open(node, $"'udp' of {what}", UdpKeys, _diagnostics) is not { } section)
        {
            return udp;
        }

        if (section.Duration("idle_timeout", _values) is { } idle)
        {
            udp = udp with { IdleTimeout = idle };
        }

        if (section.Int("max_sessions", _values, 1, 1_000_000) is { } max)
        {
            udp = udp with { MaxSessions = max };
        }

        return udp;
    }

    private List<ListenAddress> ReadListen(string server, Mark serverMark, ConfigNode? node, bool udp)
    {
        var addresses = new List<ListenAddress>();
        if (node is null)
        {
            _diagnostics.Error(serverMark, $"server {DiagnosticText.Quote(server)} needs 'listen': a list of IP:port addresses");
            return addresses;
        }

        if (node is not ConfigSequence sequence)
        {
            _diagnostics.Error(node.Start, $"'listen' must be a list of IP:port addresses, for example [\"127.0.0.1:8443\"], got {node.Describe}");
            return addresses;
        }

        if (sequence.Items.Count == 0)
        {
            // tls-proxy-tunnel accepts a server without listeners (one kept in the file but switched off).
            _diagnostics.Warning(node.Start, $"'listen' of server {DiagnosticText.Quote(server)} is empty; the server accepts no connections");
        }

        foreach (var item in sequence.Items)
        {
            if (_values.Scalar("listen", item, "an IP:port address") is not { } scalar)
            {
                continue;
            }

            var error = AddressParser.ParseListen(scalar.Value.Trim(), out var endPoint, scalar.Echo);
            if (error is not null)
            {
                _diagnostics.Error(scalar.Start, $"listen address {scalar.Shown} is not valid: {error}");
                continue;
            }

            var address = new ListenAddress(endPoint, scalar.Raw);
            addresses.Add(address);
            _listens.Add(new ListenUse(server, address, scalar.Start, udp));
        }

        return addresses;
    }

    private void WarnOnFamilyMismatch(ServerConfig server, ConfigNode protocolNode)
    {
        var wanted = server.Protocol switch
        {
            ListenProtocol.Tcp4 => System.Net.Sockets.AddressFamily.InterNetwork,
            ListenProtocol.Tcp6 => System.Net.Sockets.AddressFamily.InterNetworkV6,
            _ => System.Net.Sockets.AddressFamily.Unspecified,
        };
        if (wanted != System.Net.Sockets.AddressFamily.Unspecified && server.Listen.Any(l => l.EndPoint.AddressFamily != wanted))
        {
            _diagnostics.Warning(protocolNode.Start, $"'protocol' of server {DiagnosticText.Quote(server.Name)} is {server.Protocol.ToString().ToLowerInvariant()} but a listen address is of the other family; the listen address decides");
        }
    }

    private List<SniRouteConfig> ReadSni(string server, ConfigNode node)
    {
        var routes = new List<SniRouteConfig>();
        if (Section.MappingOf(node, "'sni' must be a mapping of server name to upstream", _diagnostics) is not { } mapping)
        {
            return routes;
        }

        foreach (var (pattern, entry) in SniPatterns.Read(mapping, "SNI key", _diagnostics))
        {
            if (ReadSniTarget(server, entry.Key.Value, entry.Value) is { } route)
            {
                routes.Add(route with { Pattern = pattern });
            }
        }

        return routes;
    }

    private SniRouteConfig? ReadSniTarget(string server, string key, ConfigNode node)
    {
        var usage = $"SNI route {DiagnosticText.Quote(key)} of {server}";
        if (node is ConfigScalar { IsNull: true })
        {
            _diagnostics.Error(node.Start, $"{usage} needs an upstream name");
            return null;
        }

        if (node is ConfigScalar scalar)
        {
            _references.Add(new UpstreamReference(scalar.Value, scalar.Start, usage, scalar.Shown, scalar.Expanded));
            return new SniRouteConfig(key, scalar.Value, null) { UpstreamWritten = scalar.Expanded ? scalar.Raw : null };
        }

        if (Section.Open(node, usage, SniEntryKeys, _diagnostics) is not { } section)
        {
            return null;
        }

        if (section.Get("upstream") is not { } upstreamNode)
        {
            _diagnostics.Error(node.Start, $"{usage} needs 'upstream'");
            return null;
        }

        if (_values.Scalar("upstream", upstreamNode, "a text value") is not { } upstream)
        {
            return null;
        }

        _references.Add(new UpstreamReference(upstream.Value, upstreamNode.Start, usage, upstream.Shown, upstream.Expanded));

        // A via here replaces the server's as a whole (tls-proxy-tunnel semantics); `<<: *anchor` inherits fields.
        return new SniRouteConfig(key, upstream.Value, _vias.Read(section.Get("via"), $"'via' of {usage}")) { UpstreamWritten = upstream.Expanded ? upstream.Raw : null };
    }

    /// <summary>
    /// <c>log</c>: a level or an env_logger filter (tls-proxy-tunnel passes it to env_logger). Directives tpt cannot
    /// honour are warnings, as env_logger's own are; a value that is not a filter at all is an error.
    /// </summary>
    private LogFilter? ReadLog(ConfigNode node)
    {
        if (_values.Scalar("log", node, "a log level or filter") is not { } scalar)
        {
            return null;
        }

        var parsed = LogFilterParser.Parse(scalar.Value, showText: !scalar.Expanded);
        foreach (var error in parsed.Errors)
        {
            _diagnostics.Error(scalar.Start, $"'log': {error}");
        }

        foreach (var warning in parsed.Warnings)
        {
            _diagnostics.Warning(scalar.Start, $"'log': {warning}");
        }

        return parsed.Filter;
    }

    private ResolverSettings ReadResolver(ConfigNode node)
    {
        var resolver = new ResolverSettings();
        if (Section.Open(node, "'resolver'", ResolverKeys, _diagnostics) is not { } section)
        {
            return resolver;
        }

        if (section.Get("nameservers") is { } serversNode)
        {
            resolver = resolver with { Nameservers = ReadNameservers(serversNode) };
        }

        if (section.Duration("min_ttl", _values) is { } min)
        {
            resolver = resolver with { MinTtl = min };
        }

        if (section.Duration("max_ttl", _values) is { } max)
        {
            resolver = resolver with { MaxTtl = max };
        }

        if (section.Duration("timeout", _values) is { } timeout)
        {
            resolver = resolver with { Timeout = timeout };
        }

        if (section.Duration("stale_for", _values, allowOff: true) is { } stale)
        {
            resolver = resolver with { StaleFor = stale };
        }

        if (resolver.MinTtl > resolver.MaxTtl)
        {
            _diagnostics.Error((section.Entry("min_ttl") ?? section.Entry("max_ttl"))!.Key.Start, "'min_ttl' must not be longer than 'max_ttl'");
        }

        return resolver;
    }

    private List<System.Net.IPEndPoint> ReadNameservers(ConfigNode node)
    {
        var endPoints = new List<System.Net.IPEndPoint>();
        if (node is not ConfigSequence sequence)
        {
            _diagnostics.Error(node.Start, $"'nameservers' must be a list of IP addresses, got {node.Describe}");
            return endPoints;
        }

        foreach (var item in sequence.Items)
        {
            if (_values.Scalar("nameservers", item, "an IP address") is not { } scalar)
            {
                continue;
            }

            var error = AddressParser.ParseNameserver(scalar.Value.Trim(), out var endPoint);
            if (error is null)
            {
                endPoints.Add(endPoint);
            }
            else
            {
                _diagnostics.Error(scalar.Start, $"name server {scalar.Shown} is not valid: {error}");
            }
        }

        return endPoints;
    }
}
