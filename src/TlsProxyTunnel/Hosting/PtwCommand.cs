using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Cli;

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
        if (parsed.Options is not { } options)
        {
            return await GeneratedConfigRunner.HelpOrUsageErrorAsync("ptw", PtwCommandLine.Usage, parsed.Help, parsed.Error, stdout, stderr);
        }

        if (BindAddresses(options.BindAddress, out var bindError) is not { } listen)
        {
            await stderr.WriteLineAsync($"tpt ptw: error: argument -a/--bind-address: {bindError}");
            return 2;
        }

        var yaml = PtwConfigWriter.Write(options, listen, Directory.GetCurrentDirectory());
        return await GeneratedConfigRunner.PrintOrRunAsync("ptw", yaml, options.PrintConfig, options.LogFile, environment, stdout, stderr);
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
