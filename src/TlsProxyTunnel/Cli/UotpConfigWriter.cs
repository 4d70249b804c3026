using System.Globalization;
using System.Net;
using System.Text;

namespace TlsProxyTunnel.Cli;

/// <summary>
/// Writes the tpt configuration equivalent to a uotp-client or uotp-server command line: the client as a UDP server
/// whose default is the uotp server reached by <c>encapsulate: uotp</c>; the server as a (TLS-terminating) TCP server
/// with <c>decapsulate: uotp</c> whose default is the UDP destination.
/// </summary>
internal static class UotpConfigWriter
{
    public const string ClientServerName = "uotp_client";
    public const string ServerServerName = "uotp_server";
    public const string TunnelName = "uotp_tunnel";
    public const string DestinationName = "destination";

    /// <summary>The originals have no cap on sessions or connections; tpt needs a number.</summary>
    public const int NoCap = 1_000_000;

    public static string Write(UotpOptions options, IReadOnlyList<IPAddress> listen, string workingDirectory)
    {
        var yaml = new StringBuilder();
        void Line(string text) => yaml.Append(text).Append('\n');

        var command = options.Role == UotpRole.Client ? "uotp-client" : "uotp-server";
        GeneratedYaml.Heading(Line, command, command, options.Arguments);
        GeneratedYaml.LogFileComment(Line, command, options.LogFile, workingDirectory);
        Line("version: 2");
        Line($"log: {LogLevel(options.Verbosity)}");
        Line("servers:");
        var addresses = string.Join(", ", listen.Select(a => GeneratedYaml.Quote(GeneratedYaml.ListenAddress(a, options.BindPort))));
        if (options.Role == UotpRole.Client)
        {
            Line($"  {ClientServerName}:");
            Line("    protocol: udp");
            Line($"    listen: [{addresses}]");
            Line($"    udp: {{idle_timeout: {GeneratedYaml.Duration(options.Expire)}, max_sessions: {NoCap.ToString(CultureInfo.InvariantCulture)}}}  # uotp-client has no cap");
            Line($"    default: {TunnelName}");
            Line("upstream:");
            Line($"  {TunnelName}:");
            Line($"    address: {GeneratedYaml.Quote(GeneratedYaml.Url("tcp", options.DstAddress, options.DstPort))}");
            Line("    encapsulate: uotp");
            Line($"    connections: {options.PoolSize.ToString(CultureInfo.InvariantCulture)}");
            Line($"    backoff: {GeneratedYaml.Duration(options.Backoff)}");
            Line($"    connect_timeout: {GeneratedYaml.Duration(options.Timeout)}");
            if (options.ResolveOnce)
            {
                Line("    resolve_once: true");
            }

            if (options.Mark is { } mark)
            {
                Line($"    so_mark: 0x{mark.ToString("x", CultureInfo.InvariantCulture)}");
            }

            if (options.Tls)
            {
                GeneratedYaml.ClientTls(Line, options.CaFile, options.Cert, options.Key, options.NoHostnameCheck, options.TlsServerName, workingDirectory);
            }

            return yaml.ToString();
        }

        Line($"  {ServerServerName}:");
        Line($"    listen: [{addresses}]");
        Line($"    maxclients: {NoCap.ToString(CultureInfo.InvariantCulture)}  # uotp-server has no cap");
        if (options.Tls)
        {
            Line("    terminate_tls:");
            Line($"      cert: {GeneratedYaml.Quote(Path.GetFullPath(options.Cert!, workingDirectory))}");
            if (options.Key is { } key)
            {
                Line($"      key: {GeneratedYaml.Quote(Path.GetFullPath(key, workingDirectory))}");
            }

            if (options.CaFile is { } ca)
            {
                // -C makes client certificates required and checked against that CA.
                Line($"      client_ca: {GeneratedYaml.Quote(Path.GetFullPath(ca, workingDirectory))}");
                Line("      client_cert: require");
            }
        }

        Line("    decapsulate: uotp");
        Line($"    default: {DestinationName}");
        Line("upstream:");
        Line($"  {DestinationName}: {GeneratedYaml.Quote(GeneratedYaml.Url("udp", options.DstAddress, options.DstPort))}");
        return yaml.ToString();
    }

    /// <summary>The originals' levels onto tpt's <c>log</c>: fatal and crit have no level of their own, error is the nearest.</summary>
    private static string LogLevel(string verbosity) => verbosity is "fatal" or "crit" ? "error" : verbosity;
}
