using System.Diagnostics;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Compat;

/// <summary>Debian's <c>varnishtest</c> (package <c>varnish</c>) running one .vtc file against the tpt the other tests start.</summary>
public static class VarnishTest
{
    /// <summary>varnishtest's own limit per file (its default); the slowest file takes about 12 s here.</summary>
    private static readonly TimeSpan PerFile = TimeSpan.FromSeconds(60);

    /// <summary>A command on PATH or in the usual Debian directories, or null.</summary>
    public static string? Find(string command) =>
        (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/bin", "/usr/sbin", "/sbin"])
            .Select(directory => Path.Combine(directory, command))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs one file with the <c>tpt</c> macro set to tpt's command line; never throws for a failing test.</summary>
    public static async Task<VarnishTestRun> RunAsync(string varnishtest, string vtcPath)
    {
        var info = new ProcessStartInfo(varnishtest)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(vtcPath)!,
        };
        info.ArgumentList.Add("-t");
        info.ArgumentList.Add(((int)PerFile.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Add("-Dtpt=" + TptProcess.ShellCommand);
        info.ArgumentList.Add(vtcPath);

        // The .vtc files start tpt with their own TPT_CONFIG; a level from the test's environment must not override their log settings.
        foreach (var name in new[] { "TPT_CONFIG", "TPT_LOG", "RUST_LOG" })
        {
            info.Environment.Remove(name);
        }

        // Every process of this run inherits the marker, so none can outlive it (see KillLeftovers).
        var run = Guid.NewGuid().ToString("N");
        info.Environment[RunMarker] = run;
        var marker = $"{RunMarker}={run}";

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            // varnishtest enforces PerFile itself; the margin covers its clean-up of the processes it started.
            await process.WaitForExitAsync().WaitAsync(PerFile + TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        finally
        {
            KillLeftovers(marker);
        }

        return new VarnishTestRun(Path.GetFileName(vtcPath), process.ExitCode, (await stdout) + (await stderr));
    }

    private const string RunMarker = "TPT_VTEST_RUN";

    /// <summary>
    /// After a failure varnishtest stops the test's processes one by one and gives up at the first that already
    /// exited ("failure during reset"), so the rest (a tpt, a Python backend) would keep running, detached in
    /// their own sessions, and hold the suite's fixed ports for the next file. They are found by the marker in
    /// their environment (the .vtc files start them with <c>env</c>, which keeps it) and killed.
    /// </summary>
    private static void KillLeftovers(string marker)
    {
        foreach (var directory in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid) || pid == System.Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var environment = File.ReadAllText(Path.Combine(directory, "environ")).Split('\0');
                if (environment.Contains(marker, StringComparer.Ordinal))
                {
                    PosixSignal.Send(pid, 9);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                // Exited while we looked, or not ours to read.
            }
        }
    }
}

/// <summary>
/// One varnishtest run. On failure varnishtest prints the test's whole log: a line per event, prefixed by its
/// level (<c>----</c> marks a failure, <c>****</c> the details) and the thread (<c>top</c>, or a process name).
/// </summary>
public sealed record VarnishTestRun(string File, int ExitCode, string Output)
{
    public bool Passed => ExitCode == 0;

    public IReadOnlyList<string> Lines { get; } = Output.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();

    /// <summary>The lines that made the test fail.</summary>
    public IEnumerable<string> Failures => Lines.Where(l => l.StartsWith("---- ", StringComparison.Ordinal));

    /// <summary>The log without varnishtest's per-line timing entries, for assertion messages.</summary>
    public string Log => string.Join('\n', Lines.Where(l => !l.StartsWith("**** dT", StringComparison.Ordinal)));
}
