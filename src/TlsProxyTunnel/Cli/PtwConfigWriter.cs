using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Cli;

/// <summary>
/// Writes the tpt configuration equivalent to a ptw command line: one server on ptw's listen address, whose default
/// is one upstream: the destination over TLS (ptw always speaks TLS to it), pooled, with ptw's timeouts.
/// </summary>
internal static class PtwConfigWriter
{
    public const string ServerName = "ptw";
    public const string UpstreamName = "dst";

    /// <summary>ptw takes every client; tpt needs a number, and sheds load near the open-file limit anyway.</summary>
    public const int MaxClients = 1_000_000;

    /// <param name="listen">The addresses ptw's <c>-a</c> stands for (an IP address as it is; a host name resolved).</param>
    /// <param name="workingDirectory">What relative certificate paths are relative to (the file is read from elsewhere).</param>
    public static string Write(PtwOptions options, IReadOnlyList<IPAddress> listen, string workingDirectory)
    {
        var yaml = new StringBuilder();
        void Line(string text) => yaml.Append(text).Append('\n');

        Line($"# tpt ptw {string.Join(' ', options.Arguments.Select(ShellWord))}");
        Line("# ptw's command line as a tpt configuration: 'tpt -c FILE' runs the same as the command above.");
        if (options.LogFile is { } logFile)
        {
            Line($"# -l {ShellWord(Path.GetFullPath(logFile, workingDirectory))}: 'tpt ptw' appends its log there; 'tpt -c' logs to stderr.");
        }

        Line("version: 2");
        Line($"log: {LogLevel(options.Verbosity)}");
        Line("servers:");
        Line($"  {ServerName}:");
        Line($"    listen: [{string.Join(", ", listen.Select(a => Quote(ListenAddress(a, options.BindPort))))}]");
        if (options.ProxyProtocol != "none")
        {
            // ptw's -P is its transparent mode: the header's destination is where netfilter found the client going.
            Line("    transparent: true");
        }

        Line($"    maxclients: {MaxClients.ToString(CultureInfo.InvariantCulture)}  # ptw has no cap");
        Line($"    default: {UpstreamName}");
        Line("upstream:");
        Line($"  {UpstreamName}:");
        Line($"    address: {Quote(Url(options.DstAddress, options.DstPort))}");
        Line($"    connect_timeout: {Duration(options.Timeout)}");
        WriteTls(options, workingDirectory, Line);
        if (options.ProxyProtocol != "none")
        {
            // Inside TLS, as ptw writes it: the default placement when the upstream has tls.
            Line($"    proxy_protocol: {options.ProxyProtocol}");
        }

        Line("    pool:");
        Line($"      size: {options.PoolSize.ToString(CultureInfo.InvariantCulture)}");
        Line($"      ttl: {Duration(options.Ttl)}");
        Line($"      backoff: {Duration(options.Backoff)}");
        Line($"      wait_timeout: {Duration(options.PoolWaitTimeout)}");

        return yaml.ToString();
    }

    private static void WriteTls(PtwOptions options, string workingDirectory, Action<string> line)
    {
        var keys = new List<string>();
        if (options.CaFile is { } ca)
        {
            // -C adds to the system's roots (ptw's help says "override", its code adds): tpt's ca does the same.
            keys.Add($"ca: {Quote(Path.GetFullPath(ca, workingDirectory))}");
        }

        if (options.Cert is { } cert)
        {
            keys.Add($"cert: {Quote(Path.GetFullPath(cert, workingDirectory))}");

            // ptw reads -k only with -c; without -k the key is in the certificate's file, as tpt reads it too.
            if (options.Key is { } key)
            {
                keys.Add($"key: {Quote(Path.GetFullPath(key, workingDirectory))}");
            }
        }

        if (options.NoHostnameCheck)
        {
            keys.Add("verify: chain");
        }

        if (options.TlsServerName is { } name)
        {
            keys.Add($"server_name: {Quote(name)}");
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

    /// <summary>ptw's levels onto tpt's <c>log</c>: fatal has no tpt level of its own, error is the nearest.</summary>
    private static string LogLevel(string verbosity) => verbosity == "fatal" ? "error" : verbosity;

    private static string ListenAddress(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{address}]:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"{address}:{port.ToString(CultureInfo.InvariantCulture)}";

    private static string Url(string host, int port)
    {
        var shown = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 && !host.StartsWith('[') ? $"[{host}]" : host;
        return $"tcp://{shown}:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>Whole seconds as <c>Ns</c>, anything finer in milliseconds (at least 1).</summary>
    internal static string Duration(double seconds)
    {
        if (seconds == Math.Floor(seconds) && seconds < int.MaxValue / 1000)
        {
            return $"{seconds.ToString("0", CultureInfo.InvariantCulture)}s";
        }

        var millis = Math.Max(1, Math.Round(seconds * 1000, MidpointRounding.AwayFromZero));
        return $"{millis.ToString("0", CultureInfo.InvariantCulture)}ms";
    }

    /// <summary>A double-quoted YAML scalar; <c>$</c> doubled, since tpt expands environment variables in every value.</summary>
    internal static string Quote(string value)
    {
        var quoted = new StringBuilder("\"");
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => quoted.Append("\\\""),
                '\\' => quoted.Append("\\\\"),
                '$' => quoted.Append("$$"),
                < ' ' or '\u007f' => quoted.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"),
                _ => quoted.Append(c),
            };
        }

        return quoted.Append('"').ToString();
    }

    /// <summary>An argument as a shell would need it in the comment line: bare when safe, else single-quoted; never a line break.</summary>
    internal static string ShellWord(string word)
    {
        var printable = new string([.. word.Select(c => char.IsControl(c) ? '?' : c)]);
        return printable.Length > 0 && printable.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@%+".Contains(c, StringComparison.Ordinal))
            ? printable
            : "'" + printable.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
