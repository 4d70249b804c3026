using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Hosting;

/// <summary>
/// <c>tpt ptw ARGS</c>: ptw's command line → the equivalent configuration → printed (<c>--print-config</c>) or run
/// as any configuration file is (a SIGHUP re-reads it, and with it the certificate files).
/// </summary>
internal static class PtwCommand
{
    public static async Task<int> RunAsync(string[] args, Func<string, string?> environment, TextWriter stdout, TextWriter stderr)
    {
        var parsed = PtwCommandLine.Parse(args);
        if (parsed.Help)
        {
            await stdout.WriteLineAsync(PtwCommandLine.Usage);
            return 0;
        }

        if (parsed.Options is not { } options)
        {
            // argparse's exit code for a usage error.
            await stderr.WriteLineAsync($"tpt ptw: error: {parsed.Error}\nRun 'tpt ptw --help' for usage.");
            return 2;
        }

        if (BindAddresses(options.BindAddress, out var bindError) is not { } listen)
        {
            await stderr.WriteLineAsync($"tpt ptw: error: argument -a/--bind-address: {bindError}");
            return 2;
        }

        var workingDirectory = Directory.GetCurrentDirectory();
        var yaml = PtwConfigWriter.Write(options, listen, workingDirectory);
        if (options.PrintConfig)
        {
            await stdout.WriteAsync(yaml);
            return 0;
        }

        // A file of our own, so that a SIGHUP reloads it (and the certificates it names) like any other configuration.
        var directory = Directory.CreateTempSubdirectory("tpt-ptw-");
        var path = Path.Combine(directory.FullName, "ptw.yaml");
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
                await stderr.WriteLineAsync($"tpt ptw: the configuration built from the command line has {loaded.ErrorCount} error(s) ('tpt ptw --print-config ...' shows it); nothing was started");
                return 1;
            }

            var environmentFilter = await TptApp.EnvironmentLogFilterAsync(environment, stderr);
            if (environmentFilter.Failed)
            {
                return 1;
            }

            if (options.LogFile is { } logPath)
            {
                // ptw's -l: the log is appended to the file. Set before the host (and its console logger) is built.
                var stream = new FileStream(Path.GetFullPath(logPath, workingDirectory), FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
                logFile = TextWriter.Synchronized(new StreamWriter(stream) { AutoFlush = true });
                Console.SetError(logFile);
            }

            return await TptApp.RunServiceAsync(config, new ReloadOptions(path, environment, Watch: false), environmentFilter.Filter, stderr);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"tpt ptw: {e.Message}");
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
                // Left in the temporary directory; nothing secret is in it (paths and names from the command line).
            }
        }
    }

    /// <summary>
    /// What ptw's listener binds for <c>-a</c>: an IP address as it is, every address of a host name (asyncio binds
    /// each one getaddrinfo gives), and every interface for an empty one.
    /// </summary>
    internal static IReadOnlyList<IPAddress>? BindAddresses(string bindAddress, out string? error)
    {
        error = null;
        if (bindAddress.Length == 0)
        {
            return [IPAddress.Any, IPAddress.IPv6Any];
        }

        if (IPAddress.TryParse(bindAddress.Trim('[', ']'), out var address))
        {
            return [address];
        }

        try
        {
            var addresses = System.Net.Dns.GetHostAddresses(bindAddress).Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6).Distinct().ToList();
            if (addresses.Count > 0)
            {
                return addresses;
            }

            error = $"'{bindAddress}' has no address";
        }
        catch (SocketException e)
        {
            error = $"'{bindAddress}' cannot be resolved: {e.Message}";
        }
        catch (ArgumentException e)
        {
            error = $"'{bindAddress}' is not a host name: {e.Message}";
        }

        return null;
    }
}
