using System.Globalization;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.Cli;

/// <summary>
/// <c>tpt uotp-client</c> and <c>tpt uotp-server</c> as their unit files would run them: the originals' flags, mutual
/// TLS between the two, a UDP echo behind; and their command lines beside the originals'.
/// </summary>
public sealed partial class UotpCommandTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task The_originals_flags_carry_datagrams_over_mutual_tls()
    {
        using var echo = new UdpEcho();
        var serverPort = FreePort.Tcp();
        await using var server = await TptProcess.StartCommandAsync(
            ["uotp-server", "-a", "127.0.0.1", "-p", P(serverPort), "-c", _pki.Cert("server"), "-k", _pki.Key("server"), "-C", _pki.Cert("clientca"), "127.0.0.1", P(echo.Port)],
            expectedListeners: 1);
        var clientPort = FreePort.TcpAndUdp();
        await using var client = await TptProcess.StartCommandAsync(
            ["uotp-client", "-p", P(clientPort), "-n", "2", "-e", "30", "-B", "1", "-w", "3", "-C", _pki.Cert("ca"), "-c", _pki.Cert("client"), "-k", _pki.Key("client"), "localhost", P(serverPort)],
            expectedListeners: 1);

        using var peer = new UdpPeer(clientPort);
        var replies = await peer.EchoNumberedAsync(20, "cli", TimeSpan.FromSeconds(10));
        Assert.Equal(20, replies.Distinct(StringComparer.Ordinal).Count());

        // The client's end (SIGTERM) ends its session; the server then sees its connections go, each with the
        // client certificate that -C required, and the session's line.
        client.Signal(TptProcess.SIGTERM);
        var ended = await client.WaitForLineAsync(l => l.Contains("outcome=shutdown", StringComparison.Ordinal));
        Assert.Contains("rx_datagrams=20", ended, StringComparison.Ordinal);
        Assert.Contains("connections=2", ended, StringComparison.Ordinal);
        var connection = await server.WaitForLineAsync(l => l.Contains("upstream=destination", StringComparison.Ordinal));
        Assert.Contains("client_cert=\"CN=tpt test client\"", connection, StringComparison.Ordinal);
        var session = await server.WaitForLineAsync(l => l.Contains("uotp session=", StringComparison.Ordinal));
        Assert.Contains("rx_datagrams=20", session, StringComparison.Ordinal);
        Assert.Contains("tx_datagrams=20", session, StringComparison.Ordinal);
        Assert.Contains(client.Lines, l => l.Contains("Listening: server uotp_client on 127.0.0.1:" + P(clientPort) + " (udp", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("client")]
    [InlineData("server")]
    public async Task Print_config_is_a_configuration_tpt_check_accepts(string role)
    {
        string[] args = role == "client"
            ? ["uotp-client", "--print-config", "-R", "-m", "51820", "-C", _pki.Cert("ca"), "--no-hostname-check", "localhost", "8443"]
            : ["uotp-server", "--print-config", "-c", _pki.Cert("server"), "-k", _pki.Key("server"), "127.0.0.1", "51820"];
        var (exit, yaml, stderr) = await TptProcess.RunToExitAsync(args);
        Assert.True(exit == 0, stderr);
        var file = Path.Combine(_pki.Directory, $"from-uotp-{role}.yaml");
        await File.WriteAllTextAsync(file, yaml);
        var check = await TptProcess.RunToExitAsync(["check", "-c", file]);
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        Assert.Contains(role == "client" ? "127.0.0.1:8911" : "0.0.0.0:8443", check.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("client")]
    [InlineData("server")]
    public async Task Every_option_of_the_original_is_an_option_of_tpt(string role)
    {
        var original = await OriginalUotp.RunToExitAsync(role, "--help");
        Assert.True(original.ExitCode == 0, original.Stderr);
        var theirs = OptionWord().Matches(original.Stdout).Select(m => m.Value).Distinct().ToList();
        Assert.Contains("--no-tls", theirs);
        var ours = await TptProcess.RunToExitAsync([$"uotp-{role}", "--help"]);
        Assert.Equal(0, ours.ExitCode);
        var listed = OptionWord().Matches(ours.Stdout).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        var missing = theirs.Where(o => !listed.Contains(o)).ToList();
        Assert.True(missing.Count == 0, $"uotp-{role}'s options missing from 'tpt uotp-{role} --help': {string.Join(' ', missing)}");
    }

    [Theory]
    [InlineData("client", "h")]
    [InlineData("client", "-n 0 h 1")]
    [InlineData("client", "-e 0 h 1")]
    [InlineData("client", "-m 4294967296 h 1")]
    [InlineData("client", "-v trace h 1")]
    [InlineData("client", "--no-hostname-check --tls-servername x h 1")]
    [InlineData("server", "h 70000")]
    [InlineData("server", "--bind-port=x h 1")]
    public async Task A_command_line_the_original_refuses_is_refused_with_the_same_exit_code(string role, string commandLine)
    {
        var args = commandLine.Split(' ');
        var original = await OriginalUotp.RunToExitAsync(role, args);
        var ours = await TptProcess.RunToExitAsync([$"uotp-{role}", .. args]);
        Assert.Equal(2, original.ExitCode);
        Assert.Equal(original.ExitCode, ours.ExitCode);
        Assert.StartsWith($"tpt uotp-{role}: error: ", ours.Stderr, StringComparison.Ordinal);
    }

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"(?<![\w-])--?[A-Za-z][\w-]*")]
    private static partial Regex OptionWord();
}
