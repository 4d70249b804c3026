using System.Net;
using TlsProxyTunnel.Configuration.Yaml;
using YamlDotNet.Core;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Reads what the reverse-relay kinds add to a server (issue #14): <c>kind</c>, a relay's <c>relay</c> block, and a
/// publisher's <c>relay</c>, <c>relay_tls</c>, <c>backoff</c> and <c>connect_timeout</c>; and rejects the keys a kind
/// has no use for, so a setting that would silently do nothing is an error at its key.
/// </summary>
internal sealed class RelayReader(ValueReader values, TlsReader tls)
{
    /// <summary>The keys of a server that only the relay kinds read.</summary>
    public static readonly IReadOnlyList<string> ServerKeys = ["kind", "relay", "relay_tls", "backoff", "connect_timeout"];

    public static readonly IReadOnlyList<string> RelayKeys = ["advertise_host", "port_count", "bind", "pending_timeout", "max_pending_bytes", "max_pending", "ignore_control_input"];

    private static readonly Dictionary<string, ServerKind> Kinds = new(StringComparer.Ordinal)
    {
        ["router"] = ServerKind.Router,
        ["tls_relay"] = ServerKind.TlsRelay,
        ["relay_publisher"] = ServerKind.RelayPublisher,
    };

    // Keys each kind does not read: given anyway, they are an error rather than a setting that does nothing.
    private static readonly string[] NotOnRelay = ["tls", "sni", "default", "via", "transparent", "proxy_protocol", "client_hello_max_bytes", "relay_tls", "backoff", "connect_timeout", "protocol"];
    private static readonly string[] NotOnPublisher = ["listen", "terminate_tls", "transparent", "protocol"];
    private static readonly string[] OnlyRelayKinds = ["relay", "relay_tls", "backoff", "connect_timeout"];

    private DiagnosticBag Diagnostics => values.Diagnostics;

    public ServerKind ReadKind(Section section) =>
        section.Get("kind") is { } node && values.Choice("kind", node, Kinds) is { } kind ? kind : ServerKind.Router;

    /// <summary>Reports every key of <paramref name="section"/> that <paramref name="kind"/> does not read.</summary>
    public void CheckKeys(Section section, ServerKind kind, string what)
    {
        var (unused, name) = kind switch
        {
            ServerKind.TlsRelay => (NotOnRelay, "tls_relay"),
            ServerKind.RelayPublisher => (NotOnPublisher, "relay_publisher"),
            _ => (OnlyRelayKinds, "router"),
        };

        foreach (var key in unused)
        {
            // tls: given as a mapping on a publisher is its control channel's TLS (the form), not routing.
            if (section.Entry(key) is { } entry && !(kind == ServerKind.RelayPublisher && key == "tls" && entry.Value is ConfigMapping))
            {
                var hint = kind == ServerKind.Router ? "; it belongs to 'kind: tls_relay' or 'kind: relay_publisher'" : "";
                Diagnostics.Error(entry.Key.Start, $"'{key}' does nothing on {what} of kind {name}{hint}");
            }
        }
    }

    /// <summary>The <c>relay</c> block of a <c>tls_relay</c> server whose one control address is <paramref name="control"/>.</summary>
    public RelaySettings? ReadRelay(Section server, ListenAddress? control, Mark nameMark, string what)
    {
        if (server.Get("relay") is not { } node)
        {
            Diagnostics.Error(nameMark, $"{what} of kind tls_relay needs 'relay': a mapping with at least 'port_count' or 'advertise_host'");
            return null;
        }

        if (Section.Open(node, $"'relay' of {what}", RelayKeys, Diagnostics) is not { } section || control is null)
        {
            return null;
        }

        var settings = new RelaySettings { Control = control };
        if (section.Get("advertise_host") is { } hostNode && values.Scalar("advertise_host", hostNode, "a host name or address") is { } host)
        {
            var text = host.Value.Trim();
            if (text.Length == 0 || text.Any(c => c is '\r' or '\n' or ' ' || char.IsControl(c)))
            {
                Diagnostics.Error(host.Start, $"'advertise_host' must be a host name or address without spaces or line breaks, got {host.Shown}");
            }
            else
            {
                settings = settings with { AdvertiseHost = text };
            }
        }

        if (section.Get("port_count") is { } countNode && values.Int("port_count", countNode, 2, 65534) is { } count)
        {
            if (count % 2 != 0)
            {
                Diagnostics.Error(countNode.Start, $"'port_count' must be even (half reverse ports, half public ports), got {count}");
            }
            else
            {
                settings = settings with { PortCount = count };
            }
        }

        if (control.EndPoint.Port != 0 && control.EndPoint.Port + settings.PortCount > 65535)
        {
            Diagnostics.Error(section.Get("port_count")?.Start ?? node.Start, $"control port {control.EndPoint.Port} plus 'port_count' {settings.PortCount} passes 65535; lower the port or the count");
        }

        if (section.Get("bind") is { } bindNode && values.Scalar("bind", bindNode, "an IP address") is { } bind)
        {
            var text = bind.Value.Trim();
            if (text.StartsWith('[') && text.EndsWith(']'))
            {
                text = text[1..^1];
            }

            if (IPAddress.TryParse(text, out var address) && (AddressParser.TryParseIPv4(text, out _) || AddressParser.TryParseIPv6(text, out _)))
            {
                settings = settings with { Bind = address };
            }
            else
            {
                Diagnostics.Error(bind.Start, $"'bind' must be an IP address such as 0.0.0.0 or ::, got {bind.Shown}");
            }
        }

        if (section.Duration("pending_timeout", values, allowOff: true) is { } pending)
        {
            settings = settings with { PendingTimeout = pending == TimeSpan.Zero ? null : pending };
        }

        if (section.Int("max_pending_bytes", values, 1, 64 * 1024 * 1024) is { } bytes)
        {
            settings = settings with { MaxPendingBytes = bytes };
        }

        if (section.Int("max_pending", values, 1, 1_000_000) is { } maxPending)
        {
            settings = settings with { MaxPending = maxPending };
        }

        if (section.Bool("ignore_control_input", values) is { } ignore)
        {
            settings = settings with { IgnoreControlInput = ignore };
        }

        return settings;
    }

    /// <summary>The publisher's settings: <c>relay</c> (host:port), its TLS, <c>backoff</c> and <c>connect_timeout</c>.</summary>
    public PublisherSettings? ReadPublisher(Section server, string name, Mark nameMark, string what)
    {
        if (server.Get("relay") is not { } relayNode)
        {
            Diagnostics.Error(nameMark, $"{what} of kind relay_publisher needs 'relay': the relay's control address as host:port");
            return null;
        }

        if (values.Scalar("relay", relayNode, "the relay's control address as host:port") is not { } relay)
        {
            return null;
        }

        if (AddressParser.ParseHostAndPort(relay.Value.Trim(), out var host, out var port, out _, relay.Echo) is { } error)
        {
            Diagnostics.Error(relay.Start, $"'relay' {relay.Shown} is not valid: {error}");
            return null;
        }

        // relay_tls, or tls written as a mapping (the form issue #14 shows); tls: true keeps its routing meaning.
        var tlsEntry = server.Entry("relay_tls") ?? (server.Entry("tls") is { Value: ConfigMapping } mapped ? mapped : null);
        if (server.Entry("relay_tls") is not null && server.Entry("tls") is { Value: ConfigMapping } both)
        {
            Diagnostics.Error(both.Key.Start, $"{what} gives the control channel's TLS twice ('tls' as a mapping and 'relay_tls'); keep 'relay_tls'");
        }

        var control = new UpstreamConfig
        {
            Name = $"{name} (relay control)",
            Kind = UpstreamKind.Tcp,
            Host = host,
            Port = port,
            Display = relay.Display,
            HiddenHost = relay.Expanded ? UpstreamConfig.HiddenHostText(name) : null,
        };
        if (tlsEntry is { } entry && server.Get(entry.Key.Value) is { } tlsNode)
        {
            control = control with { Tls = tls.ReadUpstream(tlsNode, $"the relay control channel of {what}") };
        }

        var settings = new PublisherSettings { Host = host, Port = port, Display = relay.Display, Control = control };
        if (server.Duration("backoff", values) is { } backoff)
        {
            settings = settings with { Backoff = backoff };
        }

        if (server.Duration("connect_timeout", values) is { } connect)
        {
            settings = settings with { ConnectTimeout = connect };
        }

        return settings;
    }
}
