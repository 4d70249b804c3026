using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>A server's <c>engine</c> (issue #16): its values, and where it is refused, each with its place in the file.</summary>
public sealed class EngineConfigTests
{
    // Line 5 is the server's last key, written at column 5; its value starts at column 13.
    private static string Server(string engineLine, string protocol = "", string defaultUpstream = "echo") =>
        $"version: 2\nservers:\n  web:\n{protocol}    listen: [\"127.0.0.1:8443\"]\n    default: {defaultUpstream}\n{engineLine}" +
        "upstream:\n  wg: \"udp://127.0.0.1:51820\"\n";

    private static ConfigLoadResult LoadWith(string yaml, bool linuxSupported) =>
        ConfigLoader.LoadText(yaml, FileName, Env(), linuxSupported: linuxSupported);

    [Fact]
    public void Without_the_key_a_server_is_auto()
    {
        Assert.Equal(EngineChoice.Auto, LoadOk(Server("")).Servers[0].Engine);
    }

    [Theory]
    [InlineData("auto", "Auto")]
    [InlineData("linux", "Linux")]
    [InlineData("sockets", "Sockets")]
    [InlineData("Sockets", "Sockets")]
    [InlineData("LINUX", "Linux")]
    public void Each_value_is_read_in_any_case(string value, string expected)
    {
        var result = LoadWith(Server($"    engine: {value}\n"), linuxSupported: true);
        Assert.True(result.Succeeded, string.Join('\n', result.Diagnostics));
        Assert.Equal(Enum.Parse<EngineChoice>(expected), result.Config!.Servers[0].Engine);
    }

    [Fact]
    public void An_unknown_value_is_an_error_at_the_value_naming_the_accepted_ones()
    {
        var error = SingleError(Server("    engine: epoll\n"));
        Assert.Equal("test.yaml:6:13: error: 'engine' must be one of auto, linux, sockets, got 'epoll'", error.ToString());
    }

    [Fact]
    public void A_misspelt_value_gets_a_suggestion()
    {
        var error = SingleError(Server("    engine: socket\n"));
        Assert.StartsWith("test.yaml:6:13: error: 'engine' must be one of auto, linux, sockets, got 'socket'", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("did you mean 'sockets'?", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_list_is_an_error_at_the_list()
    {
        var error = SingleError(Server("    engine: [linux]\n"));
        Assert.StartsWith("test.yaml:6:13: error: 'engine' must be one of auto, linux, sockets, got ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Linux_on_a_udp_server_is_an_error_at_the_value_since_datagrams_always_run_on_sockets()
    {
        var error = SingleError(Server("    engine: linux\n", protocol: "    protocol: udp\n", defaultUpstream: "wg"));
        Assert.Equal(
            "test.yaml:7:13: error: 'engine: linux' of server 'web' does not apply to 'protocol: udp': UDP listeners always run on the sockets engine; use 'auto' or 'sockets', or remove it",
            error.ToString());
    }

    [Theory]
    [InlineData("auto", "Auto")]
    [InlineData("sockets", "Sockets")]
    public void Auto_and_sockets_are_accepted_on_a_udp_server(string value, string expected)
    {
        var server = LoadOk(Server($"    engine: {value}\n", protocol: "    protocol: udp\n", defaultUpstream: "wg")).Servers[0];
        Assert.True(server.IsUdp);
        Assert.Equal(Enum.Parse<EngineChoice>(expected), server.Engine);
    }

    [Fact]
    public void Linux_where_the_linux_engine_cannot_run_is_an_error_at_the_value()
    {
        var result = LoadWith(Server("    engine: linux\n"), linuxSupported: false);
        var error = Assert.Single(result.Errors);
        Assert.Equal(
            "test.yaml:6:13: error: 'engine: linux' of server 'web': the Linux engine cannot run here (it needs Linux on x64 or arm64); use 'auto' or 'sockets'",
            error.ToString());
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("sockets")]
    public void Auto_and_sockets_load_where_the_linux_engine_cannot_run(string value)
    {
        Assert.True(LoadWith(Server($"    engine: {value}\n"), linuxSupported: false).Succeeded);
    }

    [Fact]
    public void A_relay_and_a_publisher_take_the_key_too()
    {
        var yaml = """
            version: 2
            servers:
              relay:
                kind: tls_relay
                listen: ["127.0.0.1:12000"]
                engine: sockets
                relay: {advertise_host: relay.example.net}
              app:
                kind: relay_publisher
                relay: "relay.example.net:12000"
                engine: sockets
                default: echo
            """;
        Assert.All(LoadOk(yaml).Servers, s => Assert.Equal(EngineChoice.Sockets, s.Engine));
        var error = SingleError(yaml.Replace("    engine: sockets\n    relay: {", "    engine: nope\n    relay: {", StringComparison.Ordinal));
        Assert.StartsWith("test.yaml:6:13: error: 'engine' must be one of auto, linux, sockets", error.ToString(), StringComparison.Ordinal);
    }
}
