using System.Diagnostics;
using System.Text.RegularExpressions;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// A real <c>openssl s_server</c> on a port the OS chose, with the arguments a test gives; its output is kept line by
/// line (what the client sent arrives there) and its stdin reaches the client.
/// </summary>
internal sealed partial class OpenSslPeer : IDisposable
{
    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

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

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>Sends a line to the connected client (s_server relays its stdin).</summary>
    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            Task added;
            lock (_gate)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }

                added = _added.Task;
            }

            try
            {
                await added.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"openssl printed no matching line; output:\n{Output}");
            }
        }
    }

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
            TaskCompletionSource added;
            lock (_gate)
            {
                _lines.Add(line);
                added = _added;
                _added = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            added.TrySetResult();
        }
    }

    [GeneratedRegex(@"ACCEPT .*:(\d+)$")]
    private static partial Regex AcceptLine();
}
