using System.Text.Json;
using TlsProxyTunnel.IntegrationTests.Fixtures;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Cli;

/// <summary><c>tpt explain</c> as an operator runs it: the real binary, a real DNS server, hellos from real openssl.</summary>
public sealed class ExplainProcessTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    private static string Config(DnsmasqFixture dns) => $$"""
        version: 2
        resolver:
          nameservers: ["{{dns.EndPoint}}"]
          timeout: 2s
        servers:
          web:
            listen: ["127.0.0.1:0"]
            tls: true
            sni:
              api.example.test: backend
              "*.corp.example.test": proxy
            default: ban
          plain:
            listen: ["127.0.0.1:0"]
            default: echo
        upstream:
          backend: tcp://backend.test:443
          proxy: tcp://squid.test:3128
        """;

    private const string ProxyBlock = """

          corp:
            listen: ["127.0.0.1:0"]
            tls: true
            default: proxy
            via:
              use_sni_as_target: true
              headers:
                X-Tenant: "${TENANT_TOKEN}"
                X-Plain: "shown"
              auth: {username: svc, password: "${PROXY_PASSWORD}"}
        """;

    private static readonly Dictionary<string, string?> Secrets = new()
    {
        ["TENANT_TOKEN"] = "tenant-s3cret",
        ["PROXY_PASSWORD"] = "password-s3cret",

        // The engine is the machine's under auto; fixed here so the expected text is one.
        ["TPT_ENGINE"] = "sockets",
    };

    private static Task<DnsmasqFixture> DnsAsync() =>
        DnsmasqFixture.StartAsync(["192.0.2.50 backend.test", "192.0.2.60 squid.test", "2001:db8::60 squid.test"], ttl: 60).WaitAsync(TestTimeout);

    [Fact]
    public async Task Text_explains_each_server_with_the_addresses_the_files_own_resolver_gives()
    {
        await using var dns = await DnsAsync();
        using var config = new TempConfig(Config(dns));

        var (exit, stdout, stderr) = await TptProcess.RunToExitAsync(["explain", "-c", config.Path, "API.Example.Test."]);

        Assert.True(exit == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("name 'API.Example.Test.' -> api.example.test", lines[0]);
        Assert.StartsWith("server 'web' (tls, listen 127.0.0.1:0, engine ", lines[1], StringComparison.Ordinal);
        Assert.Equal("  rule: exact 'api.example.test': the sni key 'api.example.test' is the name itself", lines[2]);
        Assert.Equal("  upstream: 'backend' tcp://backend.test:443", lines[3]);

        // backend.test exists only in this dnsmasq: the answer proves the file's resolver settings were used.
        Assert.Equal("  addresses: 192.0.2.50", lines[4]);
        Assert.Equal("  via: direct (no CONNECT)", lines[5]);
        Assert.Matches(@"^server 'plain' \(tcp, listen 127\.0\.0\.1:0, engine (linux|sockets)\): skipped: 'tls' is not true", lines[6]);
        Assert.Contains("backend.test", dns.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_is_parseable_and_carries_rule_upstream_and_addresses()
    {
        await using var dns = await DnsAsync();
        using var config = new TempConfig(Config(dns));

        var (exit, stdout, stderr) = await TptProcess.RunToExitAsync(["explain", "--json", "-c", config.Path, "x.corp.example.test"]);

        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var web = json.RootElement.GetProperty("servers")[0];
        Assert.Equal(("web", "wildcard", "*.corp.example.test"), (web.GetProperty("server").GetString(), web.GetProperty("match").GetString(), web.GetProperty("rule").GetString()));
        var upstream = web.GetProperty("upstream");
        Assert.Equal("proxy", upstream.GetProperty("name").GetString());
        Assert.Equal(["192.0.2.60", "2001:db8::60"], upstream.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(JsonValueKind.Null, web.GetProperty("via").ValueKind);
        Assert.False(json.RootElement.GetProperty("servers")[1].GetProperty("tls").GetBoolean());
    }

    [Fact]
    public async Task A_hello_captured_from_openssl_is_explained_like_the_name_it_carries()
    {
        await using var dns = await DnsAsync();
        using var config = new TempConfig(Config(dns));
        var withName = Path.Combine(config.Directory, "hello.bin");
        var withoutName = Path.Combine(config.Directory, "no-sni.bin");
        await File.WriteAllBytesAsync(withName, await OpenSsl.CaptureClientHelloAsync("Api.Example.Test").WaitAsync(TestTimeout));
        await File.WriteAllBytesAsync(withoutName, await OpenSsl.CaptureClientHelloAsync(null).WaitAsync(TestTimeout));

        var named = await TptProcess.RunToExitAsync(["explain", "-c", config.Path, "--hello", withName]);
        Assert.True(named.ExitCode == 0, named.Stderr);
        Assert.StartsWith($"hello {withName} 'Api.Example.Test' -> api.example.test", named.Stdout, StringComparison.Ordinal);
        Assert.Contains("  rule: exact 'api.example.test'", named.Stdout, StringComparison.Ordinal);
        Assert.Contains("  addresses: 192.0.2.50", named.Stdout, StringComparison.Ordinal);

        var unnamed = await TptProcess.RunToExitAsync(["explain", "--json", "-c", config.Path, "--hello", withoutName]);
        Assert.True(unnamed.ExitCode == 0, unnamed.Stderr);
        using var json = JsonDocument.Parse(unnamed.Stdout);
        Assert.Equal("no_sni", json.RootElement.GetProperty("input").GetProperty("reading").GetString());
        var web = json.RootElement.GetProperty("servers")[0];
        Assert.Equal(("default", "ban"), (web.GetProperty("match").GetString(), web.GetProperty("upstream").GetProperty("name").GetString()));
        Assert.Equal("the ClientHello carries no server name: the default route", web.GetProperty("why").GetString());
    }

    [Fact]
    public async Task A_name_through_a_via_shows_the_connect_it_would_send_with_environment_values_and_credentials_hidden()
    {
        await using var dns = await DnsAsync();
        using var config = new TempConfig(Config(dns).Replace("\nupstream:", ProxyBlock + "\nupstream:", StringComparison.Ordinal));

        var text = await TptProcess.RunToExitAsync(["explain", "-c", config.Path, "App.Tenant.Test"], Secrets);
        var json = await TptProcess.RunToExitAsync(["explain", "--json", "-c", config.Path, "App.Tenant.Test"], Secrets);

        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains(
            """
            server 'corp' (tls, listen 127.0.0.1:0, engine sockets):
              rule: default: the server has no sni keys: the default route
              upstream: 'proxy' tcp://squid.test:3128 (the proxy: tpt connects here and sends CONNECT)
              addresses: 192.0.2.60, 2001:db8::60
              via: CONNECT request:
                CONNECT app.tenant.test:443 HTTP/1.1
                Host: app.tenant.test:443
                X-Tenant: (hidden)
                X-Plain: shown
                Proxy-Authorization: (hidden)
            """,
            text.Stdout,
            StringComparison.Ordinal);

        Assert.True(json.ExitCode == 0, json.Stderr);
        using var document = JsonDocument.Parse(json.Stdout);
        var via = document.RootElement.GetProperty("servers").EnumerateArray().Single(s => s.GetProperty("server").GetString() == "corp").GetProperty("via");
        var headers = via.GetProperty("headers").EnumerateArray().Select(h => (h.GetProperty("name").GetString(), h.GetProperty("value").GetString(), h.GetProperty("hidden").GetBoolean())).ToList();
        Assert.Equal([("Host", "app.tenant.test:443", false), ("X-Tenant", "(hidden)", true), ("X-Plain", "shown", false), ("Proxy-Authorization", "(hidden)", true)], headers);

        foreach (var output in new[] { text.Stdout, text.Stderr, json.Stdout, json.Stderr })
        {
            Assert.DoesNotContain("s3cret", output, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String("svc:password-s3cret"u8), output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Exit_codes_are_0_explained_1_configuration_error_2_usage()
    {
        using var broken = new TempConfig("version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    default: nowhere\n");
        var configError = await TptProcess.RunToExitAsync(["explain", "-c", broken.Path, "a.test"]);
        Assert.Equal(1, configError.ExitCode);
        Assert.Contains("nowhere", configError.Stderr, StringComparison.Ordinal);
        Assert.Equal("", configError.Stdout);

        var noName = await TptProcess.RunToExitAsync(["explain", "-c", broken.Path]);
        Assert.Equal(2, noName.ExitCode);
        Assert.Contains("explain needs a NAME or --hello FILE", noName.Stderr, StringComparison.Ordinal);

        var missingHello = await TptProcess.RunToExitAsync(["explain", "-c", broken.Path, "--hello", Path.Combine(broken.Directory, "absent.bin")]);
        Assert.Equal(2, missingHello.ExitCode);
        Assert.Contains("the file does not exist", missingHello.Stderr, StringComparison.Ordinal);

        using var good = new TempConfig("version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    tls: true\n    default: echo\n");
        var explained = await TptProcess.RunToExitAsync(["explain", "-c", good.Path, "a.test"]);
        Assert.Equal(0, explained.ExitCode);
        Assert.Contains("upstream: 'echo' (built in)", explained.Stdout, StringComparison.Ordinal);
    }
}
