using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>
/// No part of a value that came from the environment may appear in a diagnostic, whichever key it is under and
/// whichever part of it is wrong. Each case makes the load fail because of the secret value.
/// </summary>
public sealed class SecretRedactionTests
{
    /// <summary>
    /// Every key that takes a text value, each with a value from <c>$SECRET</c> that is wrong in a different part.
    /// The secrets carry the marker <c>Zq9</c> so a leak of any fragment is visible.
    /// </summary>
    public static TheoryData<string, string, string> Cases => new()
    {
        { "listen: port part", Server("    listen: [\"${SECRET}\"]"), "127.0.0.1:Zq9PortLeak" },
        { "listen: host part", Server("    listen: [\"${SECRET}\"]"), "Zq9HostLeak:8473" },
        { "listen: IPv6 part", Server("    listen: [\"${SECRET}\"]"), "[Zq9V6Leak]:8473" },
        { "listen: unbracketed IPv6", Server("    listen: [\"${SECRET}\"]"), "Zq9a::1:8473" },
        { "listen: part of the value", Server("    listen: [\"127.0.0.1:${SECRET}\"]"), "Zq9Partial" },
        { "upstream: host", Upstream("tcp://${SECRET}:443"), "bad_host!Zq9UpHost" },
        { "upstream: port", Upstream("tcp://example.com:${SECRET}"), "Zq9UpPort" },
        { "upstream: scheme", Upstream("${SECRET}"), "zq9scheme://example.com:1" },
        { "upstream: user info", Upstream("${SECRET}"), "tcp://user:Zq9Pass@example.com:1" },
        { "upstream: IPv6", Upstream("${SECRET}"), "tcp6://[Zq9V6]:443" },
        { "upstream: tcp4 with IPv6", Upstream("${SECRET}"), "tcp4://[fd00:7391::1]:443" },
        { "via.target: port part", Via("      target: ${SECRET}"), "proxy:Basic_Zq9dXNlcjpw" },
        { "via.target: host part", Via("      target: ${SECRET}"), "Zq9..bad-host:3173" },
        { "via.target: IPv6 part", Via("      target: ${SECRET}"), "[Zq9V6Target]:3173" },
        { "via.target_port", Via("      target_port: ${SECRET}"), "Zq9Port" },
        { "via.use_sni_as_target", Via("      use_sni_as_target: ${SECRET}"), "Zq9Bool" },
        { "via.connect_timeout", Via("      connect_timeout: ${SECRET}"), "Zq9Duration" },
        { "via.handshake_timeout", Via("      handshake_timeout: ${SECRET}"), "99999999days" },
        { "via.stats_interval", Via("      stats_interval: ${SECRET}"), "Zq9Stats" },
        { "via.headers: line break", Via("      headers:\n        X-Token: \"${SECRET}\""), "Zq9Head\r\nInjected: Zq9Inj" },
        { "via.headers: control character", Via("      headers:\n        X-Token: \"${SECRET}\""), "Zq9Ctl\u0001Zq9Ctl2" },
        { "via.auth.username", Via("      auth: {username: \"${SECRET}\", password: pw}"), "Zq9User:Zq9Rest" },
        { "default", Server("    listen: [\"127.0.0.1:8443\"]\n    default: ${SECRET}"), "Zq9MissingUpstream" },
        { "sni: plain target", Server("    listen: [\"127.0.0.1:8443\"]\n    tls: true\n    sni:\n      a.example: ${SECRET}"), "Zq9SniUpstream" },
        { "sni: extended upstream", Server("    listen: [\"127.0.0.1:8443\"]\n    tls: true\n    sni:\n      a.example: {upstream: \"${SECRET}\"}"), "Zq9SniExtended" },
        { "protocol", Server("    listen: [\"127.0.0.1:8443\"]\n    protocol: ${SECRET}"), "Zq9Proto" },
        { "tls", Server("    listen: [\"127.0.0.1:8443\"]\n    tls: ${SECRET}"), "Zq9Tls" },
        { "maxclients: not a number", Server("    listen: [\"127.0.0.1:8443\"]\n    maxclients: ${SECRET}"), "Zq9Max" },
        { "maxclients: out of range", Server("    listen: [\"127.0.0.1:8443\"]\n    maxclients: ${SECRET}"), "-73919" },
        { "client_hello_max_bytes", Server("    listen: [\"127.0.0.1:8443\"]\n    client_hello_max_bytes: ${SECRET}"), "7391999" },
        { "client_hello_timeout", Server("    listen: [\"127.0.0.1:8443\"]\n    client_hello_timeout: ${SECRET}"), "Zq9Hello" },
        { "idle_timeout", Server("    listen: [\"127.0.0.1:8443\"]\n    idle_timeout: ${SECRET}"), "Zq9Idle" },
        { "version", "version: ${SECRET}\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n", "Zq9Version" },
        { "log", "version: 2\nlog: ${SECRET}\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n", "Zq9Level" },
        { "log-format", "version: 2\nlog-format: ${SECRET}\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n", "Zq9Format" },
        { "shutdown_timeout", "version: 2\nshutdown_timeout: ${SECRET}\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n", "Zq9Shutdown" },
        { "resolver.nameservers", Resolver("  nameservers: [\"${SECRET}\"]"), "10.0.0.1:Zq9Ns" },
        { "resolver.min_ttl", Resolver("  min_ttl: ${SECRET}"), "Zq9MinTtl" },
        { "resolver.stale_for", Resolver("  stale_for: ${SECRET}"), "Zq9Stale" },
        { "upstream.address", UpstreamMapping("address: \"${SECRET}\""), "zq9scheme://example.com:1" },
        { "upstream.connect_timeout", UpstreamMapping("address: tcp://example.com:1, connect_timeout: \"${SECRET}\""), "Zq9Timeout" },
        { "upstream.tls.server_name", UpstreamTls("server_name: \"${SECRET}\""), "Zq9Bad!Name" },
        { "upstream.tls.server_name: IP", UpstreamTls("server_name: \"${SECRET}\""), "10.73.91.99" },
        { "upstream.tls.verify", UpstreamTls("verify: \"${SECRET}\""), "Zq9Verify" },
        { "upstream.tls.ca_only", UpstreamTls("ca_only: \"${SECRET}\""), "Zq9Bool" },
        { "upstream.tls.ca", UpstreamTls("ca: \"${SECRET}\""), "/Zq9Dir/Zq9ca.pem" },
        { "upstream.tls.cert", UpstreamTls("cert: \"${SECRET}\""), "/Zq9Dir/Zq9client.pem" },
        { "upstream.tls.key", UpstreamTls("cert: /nonexistent/c.pem, key: \"${SECRET}\""), "/Zq9Dir/Zq9client.key" },
        { "upstream.tls.alpn", UpstreamTls("alpn: [\"${SECRET}\"]"), "Zq9" + new string('a', 300) },
        { "terminate_tls.cert", Terminate("cert: \"${SECRET}\""), "/Zq9Dir/Zq9server.pem" },
        { "terminate_tls.client_ca", Terminate("cert: /nonexistent/s.pem, client_ca: \"${SECRET}\", client_cert: require"), "Zq9Dir/ca.pem" },
        { "terminate_tls.client_cert", Terminate("cert: /nonexistent/s.pem, client_cert: \"${SECRET}\""), "Zq9Mode" },
        { "terminate_tls.certs.cert", Terminate("cert: /nonexistent/s.pem, certs: {a.example: {cert: \"${SECRET}\"}}"), "Zq9Dir/Zq9Wild.pem" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void No_part_of_an_environment_value_appears_in_a_diagnostic(string key, string yaml, string secret)
    {
        var result = Load(yaml, Env(("SECRET", secret)));
        var output = string.Join("\n", result.Diagnostics);
        Assert.False(result.Succeeded, $"{key}: expected the secret value to be rejected");
        foreach (var fragment in Fragments(secret))
        {
            Assert.False(output.Contains(fragment, StringComparison.OrdinalIgnoreCase), $"{key}: '{fragment}' leaked:\n{output}");
        }
    }

    [Fact]
    public void The_diagnostic_still_says_where_and_that_the_value_came_from_the_environment()
    {
        var error = SingleError(Via("      target: ${SECRET}"), Env(("SECRET", "proxy:Basic_Zq9dXNlcjpw")));
        Assert.Equal(7, error.Line);
        Assert.Contains("${SECRET}", error.Message, StringComparison.Ordinal);
        Assert.Contains("environment", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_summary_shows_a_default_from_the_environment_as_written()
    {
        var config = LoadOk(Server("    listen: [\"127.0.0.1:8443\"]\n    default: ${TARGET_UPSTREAM}") + "upstream:\n  zq9backend: tcp://example.com:443\n", Env(("TARGET_UPSTREAM", "zq9backend")));
        var output = new StringWriter();
        ConfigSummary.Write(config, output);
        Assert.Contains("default -> ${TARGET_UPSTREAM}", output.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The secret and every run of letters and digits in it that is distinctive (has the marker, or is a number of
    /// five digits or more): none of them may be shown. Plain words such as "user" or "host" also occur in messages.
    /// </summary>
    internal static IEnumerable<string> Fragments(string secret) =>
        secret.Split(secret.Where(c => !char.IsAsciiLetterOrDigit(c)).Distinct().ToArray(), StringSplitOptions.RemoveEmptyEntries)
            .Where(f => f.Length >= 4 && (f.Contains("zq9", StringComparison.OrdinalIgnoreCase) || (f.Length >= 5 && f.All(char.IsAsciiDigit))))
            .Append(secret);

    private static string Server(string body) => $"version: 2\nservers:\n  web:\n{body}\n";

    private static string Via(string body) => Server($"    listen: [\"127.0.0.1:8443\"]\n    default: up\n    via:\n{body}") + "upstream:\n  up: tcp://example.com:443\n";

    private static string Upstream(string url) => Server("    listen: [\"127.0.0.1:8443\"]\n    default: up") + $"upstream:\n  up: \"{url}\"\n";

    private static string UpstreamMapping(string body) => Server("    listen: [\"127.0.0.1:8443\"]\n    default: up") + $"upstream:\n  up: {{{body}}}\n";

    private static string UpstreamTls(string body) => UpstreamMapping($"address: tcp://example.com:1, tls: {{{body}}}");

    private static string Terminate(string body) => Server($"    listen: [\"127.0.0.1:8443\"]\n    terminate_tls: {{{body}}}");

    private static string Resolver(string body) => Server("    listen: [\"127.0.0.1:8443\"]") + $"resolver:\n{body}\n";
}
