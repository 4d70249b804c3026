using System.Diagnostics;
using System.Net;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>One-shot real TLS clients: openssl s_client and curl, with everything they print.</summary>
internal static class Peers
{
    /// <summary>openssl s_client -brief: handshakes, sends <paramref name="send"/>, exits at the end of its stdin.</summary>
    public static Task<(int ExitCode, string Output)> SClientAsync(IPEndPoint endPoint, params string[] args) =>
        Task.Run(() => OpenSsl.Run(["s_client", "-connect", endPoint.ToString(), "-brief", .. args], stdin: ""));

    public static async Task<(int ExitCode, string Stdout, string Stderr)> CurlAsync(params string[] args)
    {
        var info = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-sS", "-v", "--max-time", "10", "--noproxy", "*", .. args])
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        return (process.ExitCode, await stdout, await stderr);
    }
}
