using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Hosting;

/// <summary>
/// <c>tpt uotp-client ARGS</c> and <c>tpt uotp-server ARGS</c>: udp-over-tls-pool's command lines → the equivalent
/// configuration → printed (<c>--print-config</c>) or run as any configuration file is, the shape of <c>tpt ptw</c>.
/// </summary>
internal static class UotpCommand
{
    public static async Task<int> RunAsync(UotpRole role, string[] args, Func<string, string?> environment, TextWriter stdout, TextWriter stderr)
    {
        var command = role == UotpRole.Client ? "uotp-client" : "uotp-server";
        var parsed = UotpCommandLine.Parse(role, args);
        if (parsed.Help)
        {
            await stdout.WriteLineAsync(UotpCommandLine.Usage(role));
            return 0;
        }

        if (parsed.Options is not { } options)
        {
            await stderr.WriteLineAsync($"tpt {command}: error: {parsed.Error}\nRun 'tpt {command} --help' for usage.");
            return 2;
        }

        if (PtwCommand.BindAddresses(options.BindAddress, out var bindError) is not { } bound)
        {
            await stderr.WriteLineAsync($"tpt {command}: error: argument -a/--bind-address: {bindError}");
            return 2;
        }

        // The client's UDP endpoint binds one address (asyncio's datagram endpoint takes the first); the server binds every one.
        IReadOnlyList<System.Net.IPAddress> listen = role == UotpRole.Client ? [bound[0]] : bound;
        var workingDirectory = Directory.GetCurrentDirectory();
        var yaml = UotpConfigWriter.Write(options, listen, workingDirectory);
        if (options.PrintConfig)
        {
            await stdout.WriteAsync(yaml);
            return 0;
        }

        var directory = Directory.CreateTempSubdirectory($"tpt-{command}-");
        var path = Path.Combine(directory.FullName, $"{command}.yaml");
        TextWriter? logFile = null;
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

            if (options.LogFile is { } logPath)
            {
                var stream = new FileStream(Path.GetFullPath(logPath, workingDirectory), FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
                logFile = TextWriter.Synchronized(new StreamWriter(stream) { AutoFlush = true });
                Console.SetError(logFile);
            }

            return await TptApp.RunServiceAsync(config, new ReloadOptions(path, environment, Watch: false), environmentFilter.Filter, stderr);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"tpt {command}: {e.Message}");
            return 1;
        }
        finally
        {
            if (logFile is not null)
            {
                Console.SetError(consoleError);
                await logFile.DisposeAsync();
            }

            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Left in the temporary directory; nothing secret is in it.
            }
        }
    }
}
