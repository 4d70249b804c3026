using System.Diagnostics;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>Debian's headless Chromium, for what a person sees of a page.</summary>
public static class Chromium
{
    /// <summary>Start-up alone takes seconds on two busy cores; a page load is bounded far above that.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>The DOM after load, serialised (<c>--dump-dom</c>).</summary>
    public static async Task<string> DumpDomAsync(string url) => await RunAsync(["--dump-dom", url]);

    /// <summary>A PNG of the page in a window of the given size.</summary>
    public static async Task ScreenshotAsync(string url, string file, int width = 1280, int height = 900)
    {
        File.Delete(file);
        await RunAsync([$"--screenshot={file}", $"--window-size={width},{height}", "--hide-scrollbars", url]);
        Assert.True(File.Exists(file), $"chromium wrote no screenshot to {file}");
    }

    private static string Binary()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, "chromium");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        // A failure, not a skip: CI installs it (.ci/run), and a page test that silently did not run proves nothing.
        throw new InvalidOperationException("chromium is not installed; the status page test needs a real browser: apt-get install chromium");
    }

    private static async Task<string> RunAsync(IEnumerable<string> args)
    {
        var profile = Directory.CreateTempSubdirectory("tpt-chromium-");
        try
        {
            var info = new ProcessStartInfo(Binary()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };

            // --no-sandbox: CI runs as root, where Chromium refuses to start sandboxed. A profile of its own per run
            // so concurrent runs never share one.
            foreach (var a in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", $"--user-data-dir={profile.FullName}"])
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
            try
            {
                await process.WaitForExitAsync().WaitAsync(Timeout);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            Assert.True(process.ExitCode == 0, $"chromium {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
            return await stdout;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}
