using TlsProxyTunnel.Cli;

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
        if (parsed.Options is not { } options)
        {
            return await GeneratedConfigRunner.HelpOrUsageErrorAsync("tlsrelay", TlsRelayCommandLine.Usage, parsed.Help, parsed.Error, stdout, stderr);
        }

        var yaml = TlsRelayConfigWriter.Write(options, Directory.GetCurrentDirectory());
        return await GeneratedConfigRunner.PrintOrRunAsync("tlsrelay", yaml, options.PrintConfig, logFile: null, environment, stdout, stderr);
    }
}
