using System.Text;
using TlsProxyTunnel.Configuration.Yaml;

namespace TlsProxyTunnel.Configuration;

/// <summary>Reads a <c>via</c> mapping (an HTTP CONNECT hop) into a <see cref="ViaConfig"/>.</summary>
internal sealed class ViaReader(ValueReader values)
{
    public static readonly IReadOnlyList<string> Keys =
        ["target", "use_sni_as_target", "target_port", "connect_timeout", "handshake_timeout", "stats_interval", "headers", "auth"];

    private static readonly IReadOnlyList<string> AuthKeys = ["username", "password"];

    private const string ProxyAuthorization = "Proxy-Authorization";

    // Aliases share one node; reading it once gives one ViaConfig instance and reports its mistakes once.
    private readonly Dictionary<ConfigNode, ViaConfig?> _read = new(ReferenceEqualityComparer.Instance);

    private DiagnosticBag Diagnostics => values.Diagnostics;

    /// <summary>Null for an absent or null via; <see cref="ViaConfig.Direct"/> for <c>via: {}</c>.</summary>
    public ViaConfig? Read(ConfigNode? node, string what)
    {
        if (node is null or ConfigScalar { IsNull: true })
        {
            return null;
        }

        if (!_read.TryGetValue(node, out var via))
        {
            via = ReadNew(node, what);
            _read.Add(node, via);
        }

        return via;
    }

    private ViaConfig? ReadNew(ConfigNode node, string what)
    {
        if (Section.Open(node, what, Keys, Diagnostics) is not { } section)
        {
            return null;
        }

        if (section.Mapping.Entries.Count == 0)
        {
            return ViaConfig.Direct;
        }

        var via = new ViaConfig();
        if (section.Get("target") is { } targetNode && values.Scalar("target", targetNode, "host:port") is { } target && target.Value.Length > 0)
        {
            // An empty target (for example ${PROXY:-}) means "no proxy", as in tls-proxy-tunnel.
            var error = AddressParser.ParseHostAndPort(target.Value.Trim(), out _, out _, out _, target.Echo);
            if (error is null)
            {
                via = via with { Target = target.Value.Trim(), TargetDisplay = target.Raw };
            }
            else
            {
                Diagnostics.Error(target.Start, $"'target' {target.Shown} is not valid: {error}");
            }
        }

        if (section.Bool("use_sni_as_target", values) is { } useSni)
        {
            via = via with { UseSniAsTarget = useSni };
            if (useSni && via.Target is not null)
            {
                // Not "ignored": clients without a valid SNI are sent to 'target' (TcpUpstream), which the old text denied.
                Diagnostics.Warning(section.Entry("target")!.Key.Start, "'target' is used only for clients without a valid SNI because 'use_sni_as_target' is true");
            }
        }

        if (section.Int("target_port", values, 1, 65535) is { } port)
        {
            via = via with { TargetPort = port };
        }

        if (section.Duration("connect_timeout", values) is { } connect)
        {
            via = via with { ConnectTimeout = connect };
        }

        if (section.Duration("handshake_timeout", values) is { } handshake)
        {
            via = via with { HandshakeTimeout = handshake };
        }

        if (section.Duration("stats_interval", values, allowOff: true) is { } stats)
        {
            via = via with { StatsInterval = stats == TimeSpan.Zero ? null : stats };
        }

        var headers = ReadHeaders(section.Get("headers"));
        if (section.Get("auth") is { } authNode && ReadAuth(authNode) is { } auth)
        {
            if (headers.Any(h => h.Name.Equals(ProxyAuthorization, StringComparison.OrdinalIgnoreCase)))
            {
                Diagnostics.Error(section.Entry("auth")!.Key.Start, "'auth' and a 'Proxy-Authorization' header both set credentials; give only one");
            }
            else
            {
                headers.Add(auth);
            }
        }

        return via with { Headers = headers };
    }

    private List<ProxyHeader> ReadHeaders(ConfigNode? node)
    {
        var headers = new List<ProxyHeader>();
        if (node is null)
        {
            return headers;
        }

        if (Section.MappingOf(node, "'headers' must be a mapping of header name to value", Diagnostics) is not { } mapping)
        {
            return headers;
        }

        foreach (var entry in mapping.Entries)
        {
            var name = entry.Key.Value;
            if (!HttpSyntax.IsToken(name))
            {
                Diagnostics.Error(entry.Key.Start, $"header name {DiagnosticText.Quote(name)} is not a valid HTTP field name (letters, digits and !#$%&'*+-.^_`|~ only)");
                continue;
            }

            if (values.Scalar($"headers.{name}", entry.Value, "a single value") is not { } value)
            {
                continue;
            }

            var text = value.IsNull ? "" : value.Value;
            if (FirstControlCharacter(text) is { } control)
            {
                // RFC 9110 field-value: no control character but HTAB. A line break would also let the value inject
                // extra headers into the CONNECT request; others are refused by proxies or garble their logs.
                var which = control is '\r' or '\n' ? "a line break" : value.Expanded ? "a control character" : $"the control character {DiagnosticText.Printable(control.ToString())}";
                Diagnostics.Error(value.Start, $"the value of header '{name}' contains {which}{(value.Expanded ? " after environment expansion" : "")}; header values must be one line of printable text (tab allowed)");
                continue;
            }

            if (value.Raw.Contains("$$", StringComparison.Ordinal))
            {
                Diagnostics.Warning(value.Start, $"the value of header '{name}' contains '$$', which is sent as a single '$' (tls-proxy-tunnel sent '$$' unchanged); write '$$$$' to send '$$'");
            }

            if (text.Length == 0)
            {
                // An optional credential (`${PROXY_AUTH:-}`) that is unset means "no such header", not an empty one.
                continue;
            }

            var sensitive = value.Expanded || name.Equals(ProxyAuthorization, StringComparison.OrdinalIgnoreCase);
            headers.Add(new ProxyHeader(name, text, sensitive));
        }

        return headers;
    }

    /// <summary>The first character of <paramref name="text"/> that RFC 9110 does not allow in a field value (controls but HTAB, DEL), or null.</summary>
    private static char? FirstControlCharacter(string text)
    {
        foreach (var c in text)
        {
            if ((c < 0x20 && c != '\t') || c == 0x7F)
            {
                return c;
            }
        }

        return null;
    }

    private ProxyHeader? ReadAuth(ConfigNode node)
    {
        if (Section.Open(node, "'auth'", AuthKeys, Diagnostics) is not { } section)
        {
            return null;
        }

        var userNode = section.Get("username");
        var passwordNode = section.Get("password");
        if (userNode is null || passwordNode is null)
        {
            // One message: the bag keeps one diagnostic per position, and both would be at the mapping.
            var missing = (userNode, passwordNode) switch
            {
                (null, null) => "a 'username' and a 'password'",
                (null, _) => "a 'username'",
                _ => "a 'password'",
            };
            Diagnostics.Error(node.Start, $"'auth' needs {missing}");
        }

        var user = userNode is null ? null : values.String("username", userNode);
        var password = passwordNode is null ? null : values.String("password", passwordNode);

        if (user is null || password is null)
        {
            return null;
        }

        if (user.Contains(':', StringComparison.Ordinal))
        {
            // RFC 7617: Basic credentials are user:password, so the user name cannot hold a colon.
            Diagnostics.Error(section.Entry("username")!.Value.Start, "'username' cannot contain ':' (Basic authentication joins user and password with ':')");
            return null;
        }

        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        return new ProxyHeader(ProxyAuthorization, $"Basic {encoded}", Sensitive: true);
    }
}
