using System.Globalization;
using System.Net;
using System.Net.Sockets;
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
        Line($"# tpt {command} {string.Join(' ', options.Arguments.Select(ShellWord))}");
        Line($"# {command}'s command line as a tpt configuration: 'tpt -c FILE' runs the same as the command above.");
        if (options.LogFile is { } logFile)
        {
            Line($"# -l {ShellWord(Path.GetFullPath(logFile, workingDirectory))}: 'tpt {command}' appends its log there; 'tpt -c' logs to stderr.");
        }

        Line("version: 2");
        Line($"log: {LogLevel(options.Verbosity)}");
        Line("servers:");
        var addresses = string.Join(", ", listen.Select(a => PtwConfigWriter.Quote(ListenAddress(a, options.BindPort))));
        if (options.Role == UotpRole.Client)
        {
            Line($"  {ClientServerName}:");
            Line("    protocol: udp");
            Line($"    listen: [{addresses}]");
            Line($"    udp: {{idle_timeout: {PtwConfigWriter.Duration(options.Expire)}, max_sessions: {NoCap.ToString(CultureInfo.InvariantCulture)}}}  # uotp-client has no cap");
            Line($"    default: {TunnelName}");
            Line("upstream:");
            Line($"  {TunnelName}:");
            Line($"    address: {PtwConfigWriter.Quote(Url("tcp", options.DstAddress, options.DstPort))}");
            Line("    encapsulate: uotp");
            Line($"    connections: {options.PoolSize.ToString(CultureInfo.InvariantCulture)}");
            Line($"    backoff: {PtwConfigWriter.Duration(options.Backoff)}");
            Line($"    connect_timeout: {PtwConfigWriter.Duration(options.Timeout)}");
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
                WriteClientTls(options, workingDirectory, Line);
            }

            return yaml.ToString();
        }

        Line($"  {ServerServerName}:");
        Line($"    listen: [{addresses}]");
        Line($"    maxclients: {NoCap.ToString(CultureInfo.InvariantCulture)}  # uotp-server has no cap");
        if (options.Tls)
        {
            Line("    terminate_tls:");
            Line($"      cert: {PtwConfigWriter.Quote(Path.GetFullPath(options.Cert!, workingDirectory))}");
            if (options.Key is { } key)
            {
                Line($"      key: {PtwConfigWriter.Quote(Path.GetFullPath(key, workingDirectory))}");
            }

            if (options.CaFile is { } ca)
            {
                // -C makes client certificates required and checked against that CA.
                Line($"      client_ca: {PtwConfigWriter.Quote(Path.GetFullPath(ca, workingDirectory))}");
                Line("      client_cert: require");
            }
        }

        Line("    decapsulate: uotp");
        Line($"    default: {DestinationName}");
        Line("upstream:");
        Line($"  {DestinationName}: {PtwConfigWriter.Quote(Url("udp", options.DstAddress, options.DstPort))}");
        return yaml.ToString();
    }

    private static void WriteClientTls(UotpOptions options, string workingDirectory, Action<string> line)
    {
        var keys = new List<string>();
        if (options.CaFile is { } ca)
        {
            keys.Add($"ca: {PtwConfigWriter.Quote(Path.GetFullPath(ca, workingDirectory))}");
        }

        if (options.Cert is { } cert)
        {
            keys.Add($"cert: {PtwConfigWriter.Quote(Path.GetFullPath(cert, workingDirectory))}");
            if (options.Key is { } key)
            {
                keys.Add($"key: {PtwConfigWriter.Quote(Path.GetFullPath(key, workingDirectory))}");
            }
        }

        if (options.NoHostnameCheck)
        {
            keys.Add("verify: chain");
        }

        if (options.TlsServerName is { } name)
        {
            keys.Add($"server_name: {PtwConfigWriter.Quote(name)}");
        }

        if (keys.Count == 0)
        {
            line("    tls: {}");
            return;
        }

        line("    tls:");
        foreach (var key in keys)
        {
            line($"      {key}");
        }
    }

    /// <summary>The originals' levels onto tpt's <c>log</c>: fatal and crit have no level of their own, error is the nearest.</summary>
    private static string LogLevel(string verbosity) => verbosity is "fatal" or "crit" ? "error" : verbosity;

    private static string ListenAddress(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{address}]:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"{address}:{port.ToString(CultureInfo.InvariantCulture)}";

    private static string Url(string scheme, string host, int port)
    {
        var shown = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 && !host.StartsWith('[') ? $"[{host}]" : host;
        return $"{scheme}://{shown}:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    private static string ShellWord(string word)
    {
        var printable = new string([.. word.Select(c => char.IsControl(c) ? '?' : c)]);
        return printable.Length > 0 && printable.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@%+".Contains(c, StringComparison.Ordinal))
            ? printable
            : "'" + printable.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
