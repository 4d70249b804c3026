using System.Globalization;
using System.Text;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Routing;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Explain;

/// <summary>
/// Why a name (or a captured ClientHello) goes where it goes, server by server, decided by the code the data path
/// uses: <see cref="ClientHelloParser"/>, <see cref="HostName"/>, <see cref="SniRouter{TRoute}"/>,
/// <see cref="HelloReadOutcomes.RoutesToDefault"/> and <see cref="ConnectRequestWriter"/>. Pure: no I/O.
/// </summary>
internal static class RouteExplainer
{
    /// <summary>What a hidden value is shown as.</summary>
    public const string HiddenText = "(hidden)";

    /// <summary>Text longer than this is cut when shown; long enough for any host name, CONNECT line or resolver error.</summary>
    public const int MaxShownLength = 1024;

    /// <param name="engine">The process default (<c>TPT_ENGINE</c>), for each server's engine.</param>
    public static Explanation Explain(ProxyConfig config, ExplainInput input, EngineChoice engine = EngineChoice.Auto)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(input);

        // The overall reading, for the heading; each server reads again with its own client_hello_max_bytes.
        var reading = Read(input, int.MaxValue);
        var servers = config.Servers.Select(server => ExplainServer(config, server, input) with { Engine = Engine.EngineSelection.Resolve(server, engine) }).ToList();
        return new Explanation(input, reading, servers);
    }

    /// <summary>How a server with <paramref name="maxBytes"/> of hello room reads <paramref name="input"/>.</summary>
    public static NameReading Read(ExplainInput input, int maxBytes)
    {
        if (input.Name is { } given)
        {
            return HostName.TryNormalize(given, out var normalized)
                ? new NameReading(HelloReadOutcome.Sni, given, normalized)
                : new NameReading(HelloReadOutcome.InvalidSni, given, null);
        }

        var hello = input.Hello ?? [];
        Span<byte> raw = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        var outcome = ClientHelloParser.Parse(hello, raw, out var rawLength, maxBytes);
        switch (outcome)
        {
            case ClientHelloOutcome.SniFound:
                // Latin-1 keeps one char per byte, so a non-ASCII byte stays visible (escaped) and still fails the name rules.
                var sent = Encoding.Latin1.GetString(raw[..rawLength]);
                Span<char> name = stackalloc char[HostName.MaxLength];
                return HostName.TryNormalize(raw[..rawLength], name, out var nameLength)
                    ? new NameReading(HelloReadOutcome.Sni, sent, new string(name[..nameLength]))
                    : new NameReading(HelloReadOutcome.InvalidSni, sent, null);
            case ClientHelloOutcome.NoSni:
                return new NameReading(HelloReadOutcome.NoSni, null, null);
            case ClientHelloOutcome.NotTls:
                return new NameReading(HelloReadOutcome.NotTls, null, null);
            case ClientHelloOutcome.Malformed:
                return new NameReading(HelloReadOutcome.Malformed, null, null);
            case ClientHelloOutcome.NeedMoreData when hello.Length < maxBytes:
                return new NameReading(HelloReadOutcome.Stalled, null, null, Partial: true);
            default:
                return new NameReading(HelloReadOutcome.TooLarge, null, null);
        }
    }

    private static ServerExplanation ExplainServer(ProxyConfig config, ServerConfig server, ExplainInput input)
    {
        var defaultUpstream = Upstream(config, server.Default, server.DefaultWritten);
        if (server.Kind == ServerKind.TlsRelay)
        {
            // A relay routes nothing: its control connections all speak the relay protocol, whatever name they send.
            const string relay = "kind tls_relay: tpt routes nothing on this server; its control connections all speak the relay protocol";
            return new ServerExplanation(server, relay, null, MatchKind.Default, null, relay, defaultUpstream, null);
        }

        if (!server.Tls)
        {
            var skipped = $"'tls' is not true, so tpt reads no name on this server: every connection goes to default {Shown(defaultUpstream)}";
            return new ServerExplanation(server, skipped, null, MatchKind.Default, null, skipped, defaultUpstream, null);
        }

        var reading = Read(input, server.ClientHelloMaxBytes);
        if (reading.Outcome == HelloReadOutcome.Sni)
        {
            var router = new SniRouter<SniRouteConfig>(server.Sni.Select(r => new KeyValuePair<string, SniRouteConfig>(r.Pattern, r)));
            if (router.Match(reading.Name) is { } route)
            {
                var wildcard = route.Pattern.StartsWith("*.", StringComparison.Ordinal);
                var why = wildcard
                    ? $"no sni key is the name itself, and {ExplanationWriter.Quote(route.Pattern)} is the most specific wildcard that matches it"
                    : $"the sni key {ExplanationWriter.Quote(route.Pattern)} is the name itself";
                var upstream = Upstream(config, route.Upstream, route.UpstreamWritten);
                return new ServerExplanation(server, null, reading, wildcard ? MatchKind.Wildcard : MatchKind.Exact, route.Pattern, why, upstream, Via(route.Via ?? server.Via, upstream, reading));
            }

            var none = server.Sni.Count == 0 ? "the server has no sni keys" : $"no sni key matches {ExplanationWriter.Quote(reading.Name!)}";
            return Default(server, reading, $"{none}: the default route", defaultUpstream);
        }

        if (!HelloReadOutcomes.RoutesToDefault(reading.Outcome))
        {
            var closed = reading.Partial
                ? string.Create(CultureInfo.InvariantCulture, $"the file holds only part of a ClientHello: a client that sends no more is closed after client_hello_timeout ({server.ClientHelloTimeout.TotalSeconds:0.###}s)")
                : string.Create(CultureInfo.InvariantCulture, $"the ClientHello needs more than client_hello_max_bytes ({server.ClientHelloMaxBytes}): the connection is closed");
            return new ServerExplanation(server, null, reading, MatchKind.Closed, null, closed, null, null);
        }

        var reason = reading.Outcome switch
        {
            HelloReadOutcome.InvalidSni => $"{ExplanationWriter.Quote(reading.RawName ?? "")} is not a valid host name (ASCII letters, digits, '-', '_' and dots, labels of 1 to 63, not an IP address), so it counts as no name",
            HelloReadOutcome.NoSni => "the ClientHello carries no server name",
            HelloReadOutcome.NotTls => "the bytes are not a TLS handshake",
            _ => "the ClientHello is malformed",
        };
        return Default(server, reading, $"{reason}: the default route", defaultUpstream);
    }

    private static ServerExplanation Default(ServerConfig server, NameReading reading, string why, UpstreamExplanation upstream) =>
        new(server, null, reading, MatchKind.Default, "default", why, upstream, Via(server.Via, upstream, reading));

    private static UpstreamExplanation Upstream(ProxyConfig config, string name, string? written) =>
        written is not null ? new UpstreamExplanation(written, null) : new UpstreamExplanation(name, config.Upstreams[name]);

    private static string Shown(UpstreamExplanation upstream) =>
        upstream.Hidden ? $"{ExplanationWriter.Quote(upstream.Written)} {ValueEcho.HiddenText}" : ExplanationWriter.Quote(upstream.Written);

    /// <summary>The CONNECT a <c>tcp://</c> upstream would send through <paramref name="via"/>, as <c>TcpUpstream</c> builds it.</summary>
    private static ViaExplanation? Via(ViaConfig via, UpstreamExplanation upstream, NameReading reading)
    {
        // Built-in upstreams never connect anywhere; a hidden one is not described at all.
        if (via.IsDirect || upstream.Config is not { Kind: UpstreamKind.Tcp })
        {
            return null;
        }

        string authority;
        if (via.UseSniAsTarget && reading.Name is { } sni)
        {
            authority = string.Create(CultureInfo.InvariantCulture, $"{sni}:{via.TargetPort}");
        }
        else if (via.Target is not null)
        {
            // As written: a target from the environment shows as ${NAME}.
            authority = via.TargetDisplay ?? HiddenText;
        }
        else
        {
            return new ViaExplanation(null, [], "'use_sni_as_target' is true but there is no usable name and no 'target': tpt closes the connection (no_target) instead of sending anything to the proxy");
        }

        // The writer the data path uses, with hidden values already replaced, so the shown request is the sent one.
        var masked = via.Headers.Select(h => h.Sensitive ? h with { Value = HiddenText } : h).ToList();
        string request;
        try
        {
            request = Encoding.UTF8.GetString(ConnectRequestWriter.Build(authority, masked));
        }
        catch (ArgumentException)
        {
            return new ViaExplanation(null, [], $"the CONNECT target {ExplanationWriter.Quote(authority)} cannot be sent");
        }

        var lines = request.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var headers = new List<ShownHeader>();
        for (var i = 1; i < lines.Length; i++)
        {
            var colon = lines[i].IndexOf(": ", StringComparison.Ordinal);

            // Line 1 is the Host header the writer adds; the rest are the configured headers in order.
            var hidden = i >= 2 && via.Headers[i - 2].Sensitive;
            headers.Add(new ShownHeader(lines[i][..colon], lines[i][(colon + 2)..], hidden));
        }

        return new ViaExplanation(lines[0], headers, null);
    }
}
