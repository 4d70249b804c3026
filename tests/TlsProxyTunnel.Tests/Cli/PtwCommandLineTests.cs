using System.Net;
using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tests.Configuration;

namespace TlsProxyTunnel.Tests.Cli;

/// <summary>
/// <c>tpt ptw</c>: ptw's options parsed as its argparse parses them, and the configuration each one becomes. The
/// defaults are one golden file; each flag is the exact lines it changes in it.
/// </summary>
public sealed class PtwCommandLineTests
{
    private const string WorkingDirectory = "/srv/ptw";

    private const string Defaults = """
        # tpt ptw hub.example.net 1443
        # ptw's command line as a tpt configuration: 'tpt -c FILE' runs the same as the command above.
        version: 2
        log: info
        servers:
          ptw:
            listen: ["127.0.0.1:57800"]
            maxclients: 1000000  # ptw has no cap
            default: dst
        upstream:
          dst:
            address: "tcp://hub.example.net:1443"
            connect_timeout: 4s
            tls: {}
            pool:
              size: 25
              ttl: 30s
              backoff: 5s
              wait_timeout: 15s

        """;

    [Fact]
    public void Without_options_the_configuration_has_ptws_defaults() =>
        Assert.Equal(Defaults.ReplaceLineEndings("\n"), Yaml("hub.example.net", "1443"));

    [Theory]
    [InlineData(new[] { "-v", "debug" }, new[] { "-log: info", "+log: debug" })]
    [InlineData(new[] { "--verbosity", "warn" }, new[] { "-log: info", "+log: warn" })]
    [InlineData(new[] { "-v", "fatal" }, new[] { "-log: info", "+log: error" })]
    [InlineData(new[] { "-a", "0.0.0.0" }, new[] { "-    listen: [\"127.0.0.1:57800\"]", "+    listen: [\"0.0.0.0:57800\"]" })]
    [InlineData(new[] { "--bind-address", "::1" }, new[] { "-    listen: [\"127.0.0.1:57800\"]", "+    listen: [\"[::1]:57800\"]" })]
    [InlineData(new[] { "-p", "8080" }, new[] { "-    listen: [\"127.0.0.1:57800\"]", "+    listen: [\"127.0.0.1:8080\"]" })]
    [InlineData(new[] { "-W", "2.5" }, new[] { "-      wait_timeout: 15s", "+      wait_timeout: 2500ms" })]
    [InlineData(new[] { "-n", "3" }, new[] { "-      size: 25", "+      size: 3" })]
    [InlineData(new[] { "-B", "1" }, new[] { "-      backoff: 5s", "+      backoff: 1s" })]
    [InlineData(new[] { "-T", "300" }, new[] { "-      ttl: 30s", "+      ttl: 300s" })]
    [InlineData(new[] { "-w", "0.25" }, new[] { "-    connect_timeout: 4s", "+    connect_timeout: 250ms" })]
    [InlineData(new[] { "-C", "ca.pem" }, new[] { "-    tls: {}", "+    tls:", "+      ca: \"/srv/ptw/ca.pem\"" })]
    [InlineData(new[] { "-c", "/etc/c.pem" }, new[] { "-    tls: {}", "+    tls:", "+      cert: \"/etc/c.pem\"" })]
    [InlineData(new[] { "-c", "c.pem", "-k", "c.key" }, new[] { "-    tls: {}", "+    tls:", "+      cert: \"/srv/ptw/c.pem\"", "+      key: \"/srv/ptw/c.key\"" })]
    [InlineData(new[] { "-k", "c.key" }, new string[0])] // ptw reads -k only with -c
    [InlineData(new[] { "-C", "ca.pem", "--no-hostname-check" }, new[] { "-    tls: {}", "+    tls:", "+      ca: \"/srv/ptw/ca.pem\"", "+      verify: chain" })]
    [InlineData(new[] { "--tls-servername", "hub.internal" }, new[] { "-    tls: {}", "+    tls:", "+      server_name: \"hub.internal\"" })]
    [InlineData(new[] { "--disable-uvloop" }, new string[0])]
    [InlineData(new[] { "-P", "none" }, new string[0])]
    [InlineData(new[] { "-P", "v1" }, new[] { "+    transparent: true", "+    proxy_protocol: v1" })]
    [InlineData(new[] { "--proxy-protocol", "v2" }, new[] { "+    transparent: true", "+    proxy_protocol: v2" })]
    public void Each_option_changes_exactly_its_keys(string[] option, string[] changes)
    {
        var yaml = Yaml([.. option, "hub.example.net", "1443"]);
        // The first line repeats the command line; the rest differ only where the option says.
        Assert.Equal($"# tpt ptw {string.Join(' ', option)} hub.example.net 1443", yaml.Split('\n')[0]);
        Assert.Equal(changes, Diff(Defaults.ReplaceLineEndings("\n"), yaml).Where(l => !l.Contains("# tpt ptw", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_log_file_is_noted_for_the_reader_and_the_destination_may_be_an_ipv6_literal()
    {
        var yaml = Yaml("-l", "ptw.log", "2001:db8::7", "443");
        Assert.Contains("\n# -l /srv/ptw/ptw.log: 'tpt ptw' appends its log there; 'tpt -c' logs to stderr.\n", yaml, StringComparison.Ordinal);
        Assert.Contains("    address: \"tcp://[2001:db8::7]:443\"\n", yaml, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--bind-port=9000", "h", "1" }, 9000)]
    [InlineData(new[] { "-p9000", "h", "1" }, 9000)]
    [InlineData(new[] { "--bind-p", "9000", "h", "1" }, 9000)] // argparse takes any unambiguous prefix
    [InlineData(new[] { "h", "-p", "9000", "1" }, 9000)] // options among the operands
    [InlineData(new[] { "-p", "1", "-p", "9000", "h", "1" }, 9000)] // the last one wins
    public void Options_take_argparses_forms(string[] args, int port)
    {
        var parsed = PtwCommandLine.Parse(args);
        Assert.Null(parsed.Error);
        Assert.Equal(port, parsed.Options!.BindPort);
        Assert.Equal("h", parsed.Options.DstAddress);
    }

    [Fact]
    public void Double_dash_ends_the_options()
    {
        var parsed = PtwCommandLine.Parse(["--", "-odd-host", "443"]);
        Assert.Equal("-odd-host", parsed.Options!.DstAddress);
    }

    [Theory]
    [InlineData(new[] { "h" }, "the following arguments are required: dst_port")]
    [InlineData(new string[0], "the following arguments are required: dst_address, dst_port")]
    [InlineData(new[] { "h", "1", "extra" }, "unrecognized arguments: extra")]
    [InlineData(new[] { "h", "0" }, "argument dst_port: 0 is not a valid port number")]
    [InlineData(new[] { "h", "65536" }, "argument dst_port: 65536 is not a valid port number")]
    [InlineData(new[] { "-p", "x", "h", "1" }, "argument -p/--bind-port: x is not a valid port number")]
    [InlineData(new[] { "-n", "0", "h", "1" }, "argument -n/--pool-size: 0 is not a valid value")]
    [InlineData(new[] { "-n", "2.5", "h", "1" }, "argument -n/--pool-size: 2.5 is not a valid value")]
    [InlineData(new[] { "-T", "-1", "h", "1" }, "argument -T/--ttl: -1 is not a valid value")]
    [InlineData(new[] { "-w", "nan", "h", "1" }, "argument -w/--timeout: nan is not a valid value")]
    [InlineData(new[] { "-v", "trace", "h", "1" }, "argument -v/--verbosity: invalid choice: 'trace' (choose from 'debug', 'info', 'warn', 'error', 'fatal')")]
    [InlineData(new[] { "-P", "v3", "h", "1" }, "argument -P/--proxy-protocol: invalid choice: 'v3' (choose from 'none', 'v1', 'v2')")]
    [InlineData(new[] { "-p" }, "argument -p/--bind-port: expected one argument")]
    [InlineData(new[] { "--bogus", "h", "1" }, "unrecognized arguments: --bogus")]
    [InlineData(new[] { "--t", "x", "h", "1" }, "ambiguous option: --t could match --ttl, --timeout, --tls-servername")]
    [InlineData(new[] { "--tls-servername", "", "h", "1" }, "argument --tls-servername: '' is not valid server name")]
    [InlineData(new[] { "--no-hostname-check", "--tls-servername", "x", "h", "1" }, "argument --tls-servername: not allowed with argument --no-hostname-check")]
    [InlineData(new[] { "--no-hostname-check", "h", "1" }, "--no-hostname-check needs -C/--cafile (CAfile option is required when hostname check is disabled)")]
    public void Usage_errors_say_what_is_wrong(string[] args, string error) =>
        Assert.Equal(error, PtwCommandLine.Parse(args).Error);

    [Fact]
    public void Help_wins()
    {
        Assert.True(PtwCommandLine.Parse(["-p", "1", "--help"]).Help);
        Assert.True(PtwCommandLine.Parse(["-h"]).Help);
    }

    [Theory]
    [InlineData(4.0, "4s")]
    [InlineData(0.5, "500ms")]
    [InlineData(1.0005, "1001ms")]
    [InlineData(0.0001, "1ms")]
    public void Durations_are_whole_seconds_or_milliseconds(double seconds, string text)
    {
        Assert.Equal(text, GeneratedYaml.Duration(seconds));
        Assert.True(DurationParser.TryParse(text, out _));
    }

    [Fact]
    public void The_generated_file_loads_and_its_values_survive_quoting()
    {
        // A file name with a dollar sign, a quote and a backslash: tpt would otherwise expand or cut it.
        using var certificates = new CertificateDirectory();
        var (ca, _) = certificates.SelfSigned("odd $HOME \"name\" \\ ca", dnsNames: "ca.test");
        var parsed = PtwCommandLine.Parse(["-C", ca, "-w", "1.5", "-v", "debug", "--tls-servername", "hub.internal", "hub.example.net", "1443"]);
        var yaml = PtwConfigWriter.Write(parsed.Options!, [IPAddress.Loopback], WorkingDirectory);

        var config = ConfigTestHelpers.LoadOk(yaml);
        var upstream = config.Upstreams["dst"];
        Assert.Equal(("hub.example.net", 1443), (upstream.Host, upstream.Port));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), upstream.ConnectTimeout);
        Assert.Equal("hub.internal", upstream.Tls!.ServerName);
        Assert.Single(upstream.Tls.ExtraRoots);
        Assert.False(upstream.Tls.CaOnly);
        Assert.Equal(TlsVerifyMode.Full, upstream.Tls.Verify);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 57800), config.Servers[0].Listen[0].EndPoint);
        Assert.Equal("dst", config.Servers[0].Default);
    }

    private static string Yaml(params string[] args)
    {
        var parsed = PtwCommandLine.Parse(args);
        Assert.Null(parsed.Error);
        var listen = parsed.Options!.BindAddress switch
        {
            "127.0.0.1" => IPAddress.Loopback,
            var other => IPAddress.Parse(other),
        };
        return PtwConfigWriter.Write(parsed.Options, [listen], WorkingDirectory);
    }

    /// <summary>Lines only in <paramref name="before"/> as "-line", only in <paramref name="after"/> as "+line", in order of appearance.</summary>
    private static List<string> Diff(string before, string after)
    {
        var old = before.Split('\n');
        var now = after.Split('\n');
        return [.. old.Where(l => !now.Contains(l)).Select(l => "-" + l), .. now.Where(l => !old.Contains(l)).Select(l => "+" + l)];
    }
}
