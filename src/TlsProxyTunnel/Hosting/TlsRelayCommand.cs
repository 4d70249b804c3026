using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Hosting;

/// <summary>
/// <c>tpt tlsrelay ARGS</c>: tx_tlsrelay's command line → the equivalent configuration → printed
/// (<c>--print-config</c>) or run as any configuration file is (a SIGHUP re-reads it and its certificates).
/// </summary>
internal static class TlsRelayCommand
{
    public static async Task<int> RunAsync(string[] args, Func<string, string?> environment, TextWriter stdout, TextWriter stderr)
    {
        var parsed = TlsRelayCommandLine.Parse(args);
        if (parsed.Help)
        {
            await stdout.WriteLineAsync(TlsRelayCommandLine.Usage);
            return 0;
        }

        if (parsed.Options is not { } options)
        {
            await stderr.WriteLineAsync($"tpt tlsrelay: error: {parsed.Error}\nRun 'tpt tlsrelay --help' for usage.");
            return 2;
        }

        var yaml = TlsRelayConfigWriter.Write(options, Directory.GetCurrentDirectory());
        if (options.PrintConfig)
        {
            await stdout.WriteAsync(yaml);
            return 0;
        }

        // A file of our own, so that a SIGHUP reloads it (and the certificates it names) like any other configuration.
        var directory = Directory.CreateTempSubdirectory("tpt-tlsrelay-");
        var path = Path.Combine(directory.FullName, "tlsrelay.yaml");
        try
        {
            await File.WriteAllTextAsync(path, yaml);
            var loaded = ConfigLoader.Load(path, environment);
            foreach (var diagnostic in loaded.Diagnostics)
            {
                await stderr.WriteLineAsync(diagnostic.ToString());
            }

            if (loaded.Config is not { } config)
            {
                await stderr.WriteLineAsync($"tpt tlsrelay: the configuration built from the command line has {loaded.ErrorCount} error(s) ('tpt tlsrelay --print-config ...' shows it); nothing was started");
                return 1;
            }

            var environmentFilter = await TptApp.EnvironmentLogFilterAsync(environment, stderr);
            if (environmentFilter.Failed)
            {
                return 1;
            }

            return await TptApp.RunServiceAsync(config, new ReloadOptions(path, environment, Watch: false), environmentFilter.Filter, stderr);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"tpt tlsrelay: {e.Message}");
            return 1;
        }
        finally
        {
            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Left in the temporary directory; nothing secret is in it (paths from the command line).
            }
        }
    }
}
