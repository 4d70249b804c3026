using Microsoft.Extensions.Hosting;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Hosting;

/// <summary>
/// What every command that stands in for another tool (<c>tpt ptw</c>, <c>uotp-client</c>, <c>uotp-server</c>,
/// <c>tlsrelay</c>, <c>prox</c>) does once its command line is turned into a configuration: print it
/// (<c>--print-config</c>), or run it as any configuration file is run.
/// </summary>
internal static class GeneratedConfigRunner
{
    /// <summary>
    /// For an argparse-style command line that gave no options: its help (exit 0), or its usage error with argparse's
    /// exit code, 2.
    /// </summary>
    public static async Task<int> HelpOrUsageErrorAsync(string command, string usage, bool help, string? error, TextWriter stdout, TextWriter stderr)
    {
        if (help)
        {
            await stdout.WriteLineAsync(usage);
            return 0;
        }

        await stderr.WriteLineAsync($"tpt {command}: error: {error}\nRun 'tpt {command} --help' for usage.");
        return 2;
    }

    /// <param name="command">The subcommand (<c>ptw</c>): in messages and in the temporary file's name.</param>
    /// <param name="yaml">The configuration the command line stands for.</param>
    /// <param name="printConfig"><c>--print-config</c>: print the configuration instead of running it.</param>
    /// <param name="logFile">The tool's <c>-l</c>, relative to the working directory: the log is appended there instead of stderr.</param>
    /// <param name="configure">More for the host (prox's <c>-1</c> watches for the first connection's end).</param>
    /// <returns>0 after printing; 1 when the configuration has errors or a file cannot be written; else the service's exit code.</returns>
    public static async Task<int> PrintOrRunAsync(
        string command,
        string yaml,
        bool printConfig,
        string? logFile,
        Func<string, string?> environment,
        TextWriter stdout,
        TextWriter stderr,
        Action<HostApplicationBuilder>? configure = null)
    {
        if (printConfig)
        {
            await stdout.WriteAsync(yaml);
            return 0;
        }

        // A file of our own, so that a SIGHUP reloads it (and the certificates it names) like any other configuration.
        var directory = Directory.CreateTempSubdirectory($"tpt-{command}-");
        var path = Path.Combine(directory.FullName, $"{command}.yaml");
        TextWriter? log = null;
        var consoleError = Console.Error;
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
                await stderr.WriteLineAsync($"tpt {command}: the configuration built from the command line has {loaded.ErrorCount} error(s) ('tpt {command} --print-config ...' shows it); nothing was started");
                return 1;
            }

            var environmentFilter = await TptApp.EnvironmentLogFilterAsync(environment, stderr);
            if (environmentFilter.Failed)
            {
                return 1;
            }

            var engine = await TptApp.EnvironmentEngineAsync(environment, stderr);
            if (engine.Failed)
            {
                return 1;
            }

            if (logFile is not null)
            {
                // ptw's and uotp's -l: the log is appended to the file. Set before the host (and its console logger) is built.
                var stream = new FileStream(Path.GetFullPath(logFile), FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
                log = TextWriter.Synchronized(new StreamWriter(stream) { AutoFlush = true });
                Console.SetError(log);
            }

            return await TptApp.RunServiceAsync(config, new ReloadOptions(path, environment, Watch: false) { Engine = engine.Choice }, environmentFilter.Filter, stderr, configure);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"tpt {command}: {e.Message}");
            return 1;
        }
        finally
        {
            if (log is not null)
            {
                Console.SetError(consoleError);
                await log.DisposeAsync();
            }

            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Left in the temporary directory; nothing secret is in it (paths and names from the command line).
            }
        }
    }
}
