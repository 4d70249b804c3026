using System.Net;
using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class ConfigLoaderTests
{
    [Fact]
    public void Minimal_config_gets_defaults()
    {
        var config = LoadOk("version: 1\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\", \"[::1]:8443\"]\n");
        Assert.Equal(1, config.Version);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Information, config.Log.Default);
        Assert.Empty(config.Log.Rules);
        Assert.Equal(LogFormat.Text, config.LogFormat);
        Assert.Equal(TimeSpan.FromSeconds(30), config.ShutdownTimeout);
        Assert.Equal(["ban", "echo", "health"], config.Upstreams.Keys.Order());
        var server = Assert.Single(config.Servers);
        Assert.Equal("web", server.Name);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 8443), server.Listen[1].EndPoint);
        Assert.Equal("[::1]:8443", server.Listen[1].Text);
        Assert.Equal(ListenProtocol.Tcp, server.Protocol);
        Assert.False(server.Tls);
        Assert.Equal("ban", server.Default);
        Assert.Same(ViaConfig.Direct, server.Via);
        Assert.Equal(100, server.MaxClients);
        Assert.Equal(16384, server.ClientHelloMaxBytes);
        Assert.Equal(TimeSpan.FromSeconds(10), server.ClientHelloTimeout);
        Assert.Null(server.IdleTimeout);
    }

    [Fact]
    public void Every_server_key_is_mapped()
    {
        const string yaml = """
            version: 2
            log: disable
            log_format: json
            upstream:
              a: tcp://backend.example:443
              b: tcp4://10.0.0.1:8443
              c: tcp6://[2001:db8::1]:443
            servers:
              web:
                listen: ["0.0.0.0:443"]
                protocol: tcp4
                tls: true
                sni:
                  A.Example.COM.: a
                  "*.b.example": {upstream: b}
                  c.example: {upstream: c, via: {target: "proxy:3128"}}
                default: echo
                maxclients: 5
                client_hello_max_bytes: 512
            """;
        var config = LoadOk(yaml);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.None, config.Log.Default);
        Assert.Equal(LogFormat.Json, config.LogFormat);
        var server = config.Servers[0];
        Assert.Equal(ListenProtocol.Tcp4, server.Protocol);
        Assert.True(server.Tls);
        Assert.Equal(
            [new SniRouteConfig("a.example.com", "a", null), new SniRouteConfig("*.b.example", "b", null)],
            server.Sni.Take(2));
        Assert.Equal("proxy:3128", server.Sni[2].Via!.Target);
        Assert.Equal("echo", server.Default);
        Assert.Equal(5, server.MaxClients);
        Assert.Equal(512, server.ClientHelloMaxBytes);
        Assert.Equal(new UpstreamConfig { Name = "a", Kind = UpstreamKind.Tcp, Host = "backend.example", Port = 443, Display = "tcp://backend.example:443" }, config.Upstreams["a"]);
        Assert.Equal(AddressFamilyFilter.V4, config.Upstreams["b"].Family);
        Assert.Equal("2001:db8::1", config.Upstreams["c"].Host);
        Assert.Equal(AddressFamilyFilter.V6, config.Upstreams["c"].Family);
    }

    [Fact]
    public void Type_error_names_key_position_and_expected_type()
    {
        var error = SingleError(WithServer("    maxclients: many"));
        Assert.Equal("test.yaml:6:17: error: 'maxclients' must be a whole number, got 'many'", error.ToString());
    }

    [Theory]
    [InlineData("    tls: yes", "'tls' must be true or false, got 'yes'")]
    [InlineData("    maxclients: 0", "'maxclients' must be at least 1, got '0'")]
    [InlineData("    maxclients: 1.5", "'maxclients' must be a whole number")]
    [InlineData("    maxclients: [1]", "'maxclients' must be a whole number, got a list")]
    [InlineData("    client_hello_max_bytes: 100", "'client_hello_max_bytes' must be from 512 to 1048576")]
    [InlineData("    protocol: sctp", "'protocol' must be one of tcp, tcp4, tcp6, udp, got 'sctp'")]
    [InlineData("    via:\n      target_port: 70000", "'target_port' must be from 1 to 65535")]
    [InlineData("    via:\n      use_sni_as_target: maybe", "'use_sni_as_target' must be true or false")]
    [InlineData("    via: direct", "'via' of server 'web' must be a mapping")]
    [InlineData("    sni: [a]", "'sni' must be a mapping")]
    [InlineData("    listen: \"127.0.0.1:1\"", "duplicate key 'listen'")]
    public void TypeErrors(string body, string message)
    {
        Assert.Contains(message, SingleError(WithServer(body)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("version: 3\nservers: {w: {listen: ['127.0.0.1:1']}}", "'version' must be 1 or 2, got '3'")]
    [InlineData("servers: {w: {listen: ['127.0.0.1:1']}}", "'version' is required")]
    [InlineData("version: 2", "'servers' is required")]
    [InlineData("version: 2\nservers: {}", "at least one server")]
    [InlineData("version: 2\nlog: loud\nservers: {w: {listen: ['127.0.0.1:1']}}", "'log': 'loud' is not a log level; expected trace, debug, info, warn, error or off")]
    [InlineData("version: 2\nlog-format: xml\nservers: {w: {listen: ['127.0.0.1:1']}}", "'log-format' must be one of txt, text, json, json-dotnet")]
    [InlineData("version: 2\nlog-format: json\nlog_format: json\nservers: {w: {listen: ['127.0.0.1:1']}}", "same setting")]
    [InlineData("version: 2\nservers: {w: {protocol: tcp}}", "server 'w' needs 'listen'")]
    [InlineData("", "the configuration is empty")]
    [InlineData("- a\n- b", "the configuration file must be a mapping")]
    [InlineData("version: 2\nservers: {w: {listen: ['127.0.0.1:1']}}\n---\nversion: 2", "only one YAML document")]
    public void DocumentLevelErrors(string yaml, string message)
    {
        Assert.Contains(message, SingleError(yaml).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:1\"\n    tls: true\n")]
    [InlineData("version: 2\nservers:\n  web:\n    listen: a: b\n")]
    [InlineData("version: 2\nservers:\n  web:\n    listen: \"open\n")]
    public void YAML_syntax_error_has_position(string yaml)
    {
        var result = Load(yaml);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("YAML syntax error", error.Message, StringComparison.Ordinal);
        Assert.True(error.Line >= 3, error.ToString());
        Assert.DoesNotContain("(Line:", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    maxclient: 5", "unknown key 'maxclient' in server 'web'; did you mean 'maxclients'?")]
    [InlineData("    defualt: echo", "did you mean 'default'?")]
    [InlineData("    via:\n      use_sni_as_taget: true", "unknown key 'use_sni_as_taget' in 'via' of server 'web'; did you mean 'use_sni_as_target'?")]
    [InlineData("    via:\n      connect-timeout: 5s", "did you mean 'connect_timeout'?")]
    [InlineData("    frobnicate: 1", "expected one of: listen, protocol, tls")]
    public void Unknown_keys_are_errors_with_suggestions(string body, string message)
    {
        var error = SingleError(WithServer(body));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(body.Contains("via:", StringComparison.Ordinal) ? 7 : 5, error.Column);
    }

    [Fact]
    public void Unknown_top_level_key_is_an_error_and_log_underscore_format_is_a_synonym()
    {
        var error = SingleError("version: 2\nlog_format: json\nshutdown_timout: 5s\nservers: {w: {listen: ['127.0.0.1:1']}}");
        Assert.Equal("test.yaml:3:1: error: unknown key 'shutdown_timout' in the configuration file; did you mean 'shutdown_timeout'?", error.ToString());
    }

    [Fact]
    public void Duplicate_keys_are_errors_with_both_positions()
    {
        var error = SingleError(WithServer("    tls: true\n    tls: false"));
        Assert.Equal("test.yaml:7:5: error: duplicate key 'tls' (first given at line 6, column 5)", error.ToString());
    }

    [Fact]
    public void All_errors_are_reported_at_once()
    {
        const string yaml = """
            version: 2
            servers:
              a:
                listen: ["127.0.0.1:1"]
                maxclients: many
                tls: perhaps
                default: nowhere
              b:
                listen: ["localhost:2"]
                maxclient: 3
            upstream:
              x: http://example.com
            """;
        var result = Load(yaml);
        Assert.Equal(6, result.Errors.Count());
        Assert.Equal([5, 6, 7, 9, 10, 12], result.Diagnostics.Select(d => d.Line).Distinct());
    }

    [Theory]
    [InlineData("localhost:8443", "not an IP address")]
    [InlineData("127.0.0.1", "expected IP:port")]
    [InlineData("::1:8443", "must be written in brackets")]
    [InlineData("[127.0.0.1]:8443", "not an IPv6 address")]
    [InlineData("127.0.0.1:65536", "from 0 to 65535")]
    [InlineData("1:8443", "not an IP address")]
    public void BadListenAddresses(string address, string message)
    {
        var yaml = $"version: 2\nservers:\n  w:\n    listen: [\"{address}\"]";
        var error = SingleError(yaml);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(4, error.Line);
    }

    [Theory]
    [InlineData("http://example.com:80", "scheme 'http' is not supported; use tcp://host:port, tcp4://host:port or tcp6://[ipv6]:port")]
    [InlineData("example.com:80", "expected a URL of the form tcp://")]
    [InlineData("tcp://example.com", "expected host:port")]
    [InlineData("tcp://example.com:0", "from 1 to 65535")]
    [InlineData("tcp://user:pw@example.com:80", "user info")]
    [InlineData("tcp://example.com:80/path", "no path")]
    [InlineData("tcp://example.com:80?q=1", "no path")]
    [InlineData("tcp://exa mple.com:80", "not a valid host name")]
    [InlineData("tcp://::1:80", "brackets")]
    [InlineData("tcp4://[::1]:80", "tcp4:// cannot take an IPv6 address")]
    [InlineData("tcp6://127.0.0.1:80", "tcp6:// cannot take an IPv4 address")]
    public void BadUpstreamUrls(string url, string message)
    {
        var yaml = $"version: 2\nupstream:\n  u: \"{url}\"\nservers:\n  w:\n    listen: [\"127.0.0.1:1\"]\n    default: u";
        var error = SingleError(yaml);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal("test.yaml:3:6", $"{error.File}:{error.Line}:{error.Column}");
    }

    [Fact]
    public void Built_in_upstream_names_cannot_be_redefined()
    {
        var error = SingleError("version: 2\nupstream:\n  echo: tcp://x:1\nservers: {w: {listen: ['127.0.0.1:1']}}");
        Assert.Contains("'echo' is a built-in upstream", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_from_missing_file_names_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tpt-missing-{Guid.NewGuid():N}.yaml");
        var result = ConfigLoader.Load(path, Env());
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Equal(path, error.File);
        Assert.Contains(path, error.ToString(), StringComparison.Ordinal);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_from_file_uses_the_path_in_diagnostics_and_config()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tpt-{Guid.NewGuid():N}.yaml");
        try
        {
            File.WriteAllText(path, "version: 2\nservers:\n  w:\n    listen: ['127.0.0.1:1']\n    maxclients: -1\n");
            var bad = ConfigLoader.Load(path, Env());
            Assert.StartsWith($"{path}:5:17: error:", Assert.Single(bad.Errors).ToString(), StringComparison.Ordinal);

            File.WriteAllText(path, "version: 2\nservers:\n  w:\n    listen: ['127.0.0.1:1']\n");
            Assert.Equal(path, ConfigLoader.Load(path, Env()).Config!.SourcePath);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
