using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Inspection;

namespace TlsProxyTunnel.Hosting;

/// <summary><c>tpt capcat [-iotxcl] [-a ADDR] FILES...</c>: proxcat.py on a capture file.</summary>
internal static class CapcatCommand
{
    /// <returns>0; 1 when a file could not be read or a line was skipped; 2 for a usage error (as optparse).</returns>
    public static int Run(string[] args, Stream stdout, TextWriter stdoutText, TextWriter stderr)
    {
        var options = CapcatCommandLine.Parse(args, out var error, out var help);
        if (help)
        {
            stdoutText.WriteLine(CapcatCommandLine.Usage);
            return 0;
        }

        if (options is null)
        {
            stderr.WriteLine($"usage: tpt capcat [-i] [-o] [-t] [-x] [-c] [-l] [-a ADDR] FILES...\n\ntpt capcat: error: {error}");
            return 2;
        }

        var viewer = new CaptureViewer(options, stdout, stderr);
        try
        {
            viewer.Run();
        }
        catch (IOException e)
        {
            // The reader went away (tpt capcat log | head) or the output cannot be written: stop, say why, no trace.
            stderr.WriteLine($"tpt capcat: cannot write the output: {e.Message}");
            return 1;
        }

        return viewer.Errors > 0 ? 1 : 0;
    }
}
