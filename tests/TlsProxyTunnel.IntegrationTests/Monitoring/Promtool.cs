using System.Diagnostics;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>The real promtool (Debian's prometheus package, installed by .ci/run): missing, it fails the test.</summary>
public static class Promtool
{
    public static async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> args, string? stdin = null)
    {
        var info = new ProcessStartInfo("promtool")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = StartOrExplain(info);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill();
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Starts a tool of the prometheus package, or fails naming the package to install.</summary>
    internal static Process StartOrExplain(ProcessStartInfo info)
    {
        try
        {
            return Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{info.FileName} is missing: install the Debian package 'prometheus' (.ci/run does)", e);
        }
    }
}
