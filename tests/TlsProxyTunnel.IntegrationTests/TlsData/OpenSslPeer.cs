using System.Diagnostics;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// A real <c>openssl s_server</c> on a port the OS chose, with the arguments a test gives; its output is kept line by
/// line (what the client sent arrives there) and its stdin reaches the client.
/// </summary>
internal sealed partial class OpenSslPeer : IDisposable
{
    private readonly Process _process;
    private readonly LineJournal _journal = new();

    private OpenSslPeer(Process process)
    {
        _process = process;
    }

    public int Port { get; private set; }

    public static async Task<OpenSslPeer> ServerAsync(params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in (string[])["s_server", "-accept", "127.0.0.1:0", .. args])
        {
            info.ArgumentList.Add(a);
        }

        var peer = new OpenSslPeer(Process.Start(info)!);
        _ = peer.PumpAsync(peer._process.StandardOutput);
        _ = peer.PumpAsync(peer._process.StandardError);
        var accept = await peer.WaitForLineAsync(l => AcceptLine().IsMatch(l), TimeSpan.FromSeconds(10));
        peer.Port = int.Parse(AcceptLine().Match(accept).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        return peer;
    }

    public string Output => _journal.Text;

    /// <summary>Sends a line to the connected client (s_server relays its stdin).</summary>
    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null) =>
        _journal.WaitForAsync(match, timeout, "openssl printed no matching line; output");

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }

    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            _journal.Add(line);
        }
    }

    [GeneratedRegex(@"ACCEPT .*:(\d+)$")]
    private static partial Regex AcceptLine();
}
