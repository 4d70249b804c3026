using System.Diagnostics;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>The original ptw (Python, unmodified, in ../shared/interop/ptw next to the project), run as a peer.</summary>
public static class OriginalPtw
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>The folder holding the <c>ptw</c> package: ../shared/interop/ptw from the project root.</summary>
    public static string Directory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "TlsProxyTunnel.sln")))
                {
                    var ptw = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "interop", "ptw"));
                    Assert.True(File.Exists(Path.Combine(ptw, "ptw", "__main__.py")), $"the original ptw is missing: expected it in {ptw} (see ../shared/interop/README.md)");
                    return ptw;
                }
            }

            throw new InvalidOperationException("the project root (TlsProxyTunnel.sln) was not found above the test binaries");
        }
    }

    /// <summary>Runs ptw with <paramref name="args"/> until it exits (help, usage errors).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(params string[] args)
    {
        var info = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"import sys; sys.path.insert(0, {PythonString(Directory)}); sys.argv[0] = 'ptw'; from ptw.__main__ import main; main()");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Bound);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string PythonString(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
