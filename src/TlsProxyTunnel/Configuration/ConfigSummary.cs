using System.Globalization;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// The short description <c>tpt check</c> prints. Only text as written in the file is shown (never values
/// expanded from the environment), sensitive header values are redacted, and names are escaped
/// (<see cref="DiagnosticText.Printable"/>) so a control character in a key cannot reach the terminal. The status
/// page shows upstreams and vias through <see cref="Shown"/> and <see cref="ShownTarget"/>, so both follow one rule.
/// </summary>
internal static class ConfigSummary
{
    /// <param name="engine">The process default (<c>TPT_ENGINE</c>, already checked), for each server's engine.</param>
    public static void Write(ProxyConfig config, TextWriter output, EngineChoice engine = EngineChoice.Auto)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(output);
        var culture = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(culture, $"{config.SourcePath}: version {config.Version}, log {config.Log}, format {LogFormatNames.Name(config.LogFormat)}"));
        output.WriteLine(string.Create(culture, $"servers ({config.Servers.Count}):"));
        foreach (var server in config.Servers)
        {
            var limit = server.IsUdp
                ? string.Create(culture, $"max_sessions {server.Udp.MaxSessions}, idle_timeout {Duration(server.Udp.IdleTimeout)}")
                : ProbeServers.IsProbeOnly(server, config.Upstreams)
                ? string.Create(culture, $"health server: up to {ProbeServers.ConnectionLimit} connections, maxclients ({server.MaxClients}) not applied")
                : string.Create(culture, $"maxclients {server.MaxClients}");
            output.WriteLine(string.Create(culture, $"  {Show(server.Name)}: {(server.IsUdp ? "udp" : server.Tls ? "tls" : "tcp")}{(server.Decapsulate == DatagramFraming.Uotp ? ", decapsulate uotp" : "")}{(server.Transparent ? ", transparent" : "")}, {limit}, engine {Engine.EngineSelection.Name(Engine.EngineSelection.Resolve(server, engine))}"));
            if (server.Relay is { } relay)
            {
                // A relay routes nothing: its listen is the control port, the data ports follow it.
                var control = relay.Control.EndPoint.Port;
                var ports = control == 0 ? $"{relay.PortCount} ports following it" : $"reverse {control + 1}-{control + relay.PairCount}, public {control + relay.PairCount + 1}-{control + relay.PortCount}";
                output.WriteLine(string.Create(culture, $"    kind tls_relay: control {Show(relay.Control.Text)}, {ports}, advertised as {Show(relay.AdvertiseHost)}"));
                if (server.TerminateTls is { } relayTls)
                {
                    WriteTerminate(relayTls, output);
                }

                continue;
            }

            output.WriteLine(server.Publisher is { } publisher
                ? $"    kind relay_publisher: through relay {Show(publisher.Display)} ({(publisher.Control.Tls is null ? "plain" : "TLS")} control channel), backoff {Duration(publisher.Backoff)}"
                : string.Create(culture, $"    listen: {(server.Listen.Count == 0 ? "(none)" : string.Join(", ", server.Listen.Select(l => Show(l.Text))))}"));
            foreach (var route in server.Sni)
            {
                var via = route.Via is null ? "" : $" [via {Describe(route.Via)}]";
                output.WriteLine(string.Create(culture, $"    sni {Show(route.Pattern)} -> {Show(route.UpstreamWritten ?? route.Upstream)}{via}"));
            }

            output.WriteLine(string.Create(culture, $"    default -> {Show(server.DefaultWritten ?? server.Default)}"));
            if (!server.Via.IsDirect)
            {
                output.WriteLine(string.Create(culture, $"    via: {Describe(server.Via)}"));
            }

            if (server.TerminateTls is { } terminate)
            {
                WriteTerminate(terminate, output);
            }

            if (server.ProxyProtocol != ProxyProtocolAccept.Off)
            {
                var where = server.TerminateTls is null ? "before the ClientHello" : "inside TLS";
                output.WriteLine($"    proxy_protocol: {server.ProxyProtocol.ToString().ToLowerInvariant()} ({where})");
            }

            if (server.Capture is { } capture)
            {
                output.WriteLine($"    capture: {Show(capture.Display)} ({capture.Mode.ToString().ToLowerInvariant()})");
            }

            foreach (var filter in server.Filters)
            {
                output.WriteLine($"    filter {FilterDirection(filter.Directions)}: {DescribeFilter(filter)}");
            }
        }

        var user = config.Upstreams.Values.Where(u => u.Kind is UpstreamKind.Tcp or UpstreamKind.Udp).ToList();
        output.WriteLine(string.Create(culture, $"upstreams ({user.Count} defined; ban, echo and health built in):"));
        foreach (var upstream in user)
        {
            var timeout = upstream.ConnectTimeout is { } t ? $", connect_timeout {Duration(t)}" : "";
            output.WriteLine(string.Create(culture, $"  {Show(upstream.Name)}: {Show(Shown(upstream))}{timeout}"));
            if (upstream.Encapsulate == DatagramFraming.Uotp)
            {
                var extras = (upstream.ResolveOnce ? ", resolve_once" : "") + (upstream.SoMark is { } mark ? string.Create(culture, $", so_mark 0x{mark:x}") : "");
                output.WriteLine(string.Create(culture, $"    encapsulate: uotp, {upstream.Connections} connections per session, backoff {Duration(upstream.Backoff)}{extras}"));
            }

            if (upstream.Tls is { } tls)
            {
                WriteOriginate(upstream, tls, output);
            }

            if (upstream.ProxyProtocol is { } proxyProtocol)
            {
                var where = upstream.ProxyProtocolPlacement == ProxyProtocolPlacement.InsideTls ? "inside_tls" : "before_tls";
                output.WriteLine($"    proxy_protocol: {proxyProtocol.ToString().ToLowerInvariant()}, {where}");
            }

            if (upstream.Pool is { } pool)
            {
                output.WriteLine(string.Create(culture, $"    pool: size {pool.Size}, ttl {Duration(pool.Ttl)}, backoff {Duration(pool.Backoff)}, wait_timeout {Duration(pool.WaitTimeout)}, max_waiters {pool.MaxWaiters}, server_first {pool.ServerFirst.ToString().ToLowerInvariant()}"));
            }
        }
    }

    // Certificates are shown by what identifies them (subject, names, expiry), never by their keys.
    private static void WriteTerminate(TerminateTlsSettings tls, TextWriter output)
    {
        var alpn = tls.Alpn.Count == 0 ? "" : $", alpn {Alpn(tls.Alpn)}";
        output.WriteLine($"    terminate_tls: client_cert {tls.ClientCertificate.ToString().ToLowerInvariant()}{alpn}");
        if (tls.Default is { } fallback)
        {
            output.WriteLine($"      cert {Show(fallback.Display)}: {Describe(fallback.Certificate)}");
        }

        if (tls.Mint is { } mint)
        {
            var days = mint.Validity.TotalDays;
            var name = tls.FallbackName is { } fallbackName ? Show(fallbackName) : tls.Default is null ? "the address connected to" : "cert above";
            output.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"      mint: a certificate per name, signed by {Show(mint.Display)}: {Describe(mint.Ca)}; valid {days:0.##} days; without SNI: {name}"));
        }
        foreach (var sni in tls.Certificates)
        {
            output.WriteLine($"      cert for {Show(sni.Pattern)} {Show(sni.Certificate.Display)}: {Describe(sni.Certificate.Certificate)}");
        }

        if (tls.ClientCa.Count > 0)
        {
            output.WriteLine($"      client_ca: {Roots(tls.ClientCa)}");
        }
    }

    private static void WriteOriginate(UpstreamConfig upstream, UpstreamTlsSettings tls, TextWriter output)
    {
        var name = tls.ServerNameFromClient ? "from the client's SNI"
            : tls.ServerName is not null ? Show(tls.ServerNameWritten ?? tls.ServerName)
            : upstream.ConnectsToOriginalDestination ? "none (original_dst: an IP address, no SNI sent)"
            : System.Net.IPAddress.TryParse(upstream.Host, out _) ? "none (an IP address: no SNI sent)"
            : "the address's host";
        var alpn = tls.Alpn.Count == 0 ? "" : $", alpn {Alpn(tls.Alpn)}";
        output.WriteLine($"    tls: verify {tls.Verify.ToString().ToLowerInvariant()}, server_name {name}{alpn}");
        if (tls.ExtraRoots.Count > 0)
        {
            output.WriteLine($"      ca ({(tls.CaOnly ? "trusted alone" : "added to the system's roots")}): {Roots(tls.ExtraRoots)}");
        }

        if (tls.ClientCertificate is { } client)
        {
            output.WriteLine($"      client cert: {Describe(client)}");
        }
    }

    private static string Describe(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        var names = PemFiles.Names(certificate);
        var shown = names.Count == 0 ? "(none)" : string.Join(", ", names.Select(Show));
        return $"subject {Show(certificate.Subject)}, names {shown}, expires {TlsReader.Date(certificate.NotAfter)}";
    }

    private static string Roots(System.Security.Cryptography.X509Certificates.X509Certificate2Collection roots) =>
        string.Create(CultureInfo.InvariantCulture, $"{roots.Count} certificate(s): ")
        + string.Join("; ", roots.Take(5).Select(c => $"{Show(c.Subject)} (expires {TlsReader.Date(c.NotAfter)})"))
        + (roots.Count > 5 ? string.Create(CultureInfo.InvariantCulture, $"; and {roots.Count - 5} more") : "");

    private static string Alpn(IReadOnlyList<System.Net.Security.SslApplicationProtocol> protocols) =>
        string.Join(", ", protocols.Select(p => Show(p.ToString())));

    private static string Duration(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerSecond == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{(long)value.TotalSeconds}s")
            : string.Create(CultureInfo.InvariantCulture, $"{(long)value.TotalMilliseconds}ms");

    /// <summary>An upstream as the file wrote it: its URL before expansion, or a built-in's name.</summary>
    internal static string Shown(UpstreamConfig upstream) => upstream.Display;

    /// <summary>Where a via sends its CONNECT, as the file wrote it, without the headers.</summary>
    internal static string ShownTarget(ViaConfig via) =>
        via.IsDirect ? "direct"
        : via.UseSniAsTarget ? string.Create(CultureInfo.InvariantCulture, $"CONNECT <sni>:{via.TargetPort}")
        : $"CONNECT {via.TargetDisplay}";

    private static string Describe(ViaConfig via)
    {
        var target = ShownTarget(via);
        return via.IsDirect || via.Headers.Count == 0 ? target : $"{target} with {string.Join("; ", via.Headers.Select(h => Show(h.ToString())))}";
    }

    private static string Show(string text) => DiagnosticText.Printable(text);

    private static string FilterDirection(FilterDirections directions) => directions switch
    {
        FilterDirections.In => "i",
        FilterDirections.Out => "o",
        _ => "both",
    };

    private static string DescribeFilter(FilterSettings filter) => filter.Kind switch
    {
        FilterKind.Uppercase => "uppercase",
        FilterKind.Lowercase => "lowercase",
        _ => string.Create(CultureInfo.InvariantCulture, $"replace {filter.From.Length} byte(s) with {filter.To.Length}"),
    };
}
