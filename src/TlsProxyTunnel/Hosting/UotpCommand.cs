using TlsProxyTunnel.Cli;

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
        if (parsed.Options is not { } options)
        {
            return await GeneratedConfigRunner.HelpOrUsageErrorAsync(command, UotpCommandLine.Usage(role), parsed.Help, parsed.Error, stdout, stderr);
        }

        if (PtwCommand.BindAddresses(options.BindAddress, out var bindError) is not { } bound)
        {
            await stderr.WriteLineAsync($"tpt {command}: error: argument -a/--bind-address: {bindError}");
            return 2;
        }

        // The client's UDP endpoint binds one address (asyncio's datagram endpoint takes the first); the server binds every one.
        IReadOnlyList<System.Net.IPAddress> listen = role == UotpRole.Client ? [bound[0]] : bound;
        var yaml = UotpConfigWriter.Write(options, listen, Directory.GetCurrentDirectory());
        return await GeneratedConfigRunner.PrintOrRunAsync(command, yaml, options.PrintConfig, options.LogFile, environment, stdout, stderr);
    }
}
