using System.Diagnostics;
using System.Net;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

public sealed record HttpAnswer(int Status, string Headers, string Body);

/// <summary>HTTP requests made with the real curl.</summary>
public static class HttpProbe
{
    public static async Task<HttpAnswer> GetAsync(IPEndPoint endPoint, string path, params string[] extraArgs)
    {
        var host = endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endPoint.Address}]" : endPoint.Address.ToString();
        return await CurlAsync([.. extraArgs, $"http://{host}:{endPoint.Port}{path}"]);
    }

    public static async Task<HttpAnswer> CurlAsync(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-sS", "-i", "--max-time", "10", "--noproxy", "*"])
        {
            info.ArgumentList.Add(a);
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        var output = (await stdout).Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.True(process.ExitCode == 0, $"curl {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
        var split = output.IndexOf("\n\n", StringComparison.Ordinal);
        var headers = split < 0 ? output : output[..split];
        var body = split < 0 ? "" : output[(split + 2)..];
        var status = int.Parse(headers.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return new HttpAnswer(status, headers, body);
    }
}
