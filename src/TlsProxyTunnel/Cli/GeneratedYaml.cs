using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TlsProxyTunnel.Cli;

/// <summary>
/// The pieces of YAML that the commands standing in for other tools (ptw, uotp, tlsrelay, prox) write alike: the
/// comment naming the command line, quoted values, durations, addresses, and a TLS client's keys.
/// </summary>
internal static class GeneratedYaml
{
    /// <summary>The file's first lines: the command line it stands for, and how to run the file itself.</summary>
    /// <param name="command">The tpt subcommand (<c>ptw</c>).</param>
    /// <param name="original">The tool it stands in for, as the comment names it (<c>ptw</c>, <c>prox.py</c>).</param>
    public static void Heading(Action<string> line, string command, string original, IEnumerable<string> arguments)
    {
        line($"# tpt {command} {string.Join(' ', arguments.Select(ShellWord))}");
        line($"# {original}'s command line as a tpt configuration: 'tpt -c FILE' runs the same as the command above.");
    }

    /// <summary>The <c>-l</c> comment: only the command appends its log to the file; the file itself logs to stderr.</summary>
    public static void LogFileComment(Action<string> line, string command, string? logFile, string workingDirectory)
    {
        if (logFile is not null)
        {
            line($"# -l {ShellWord(Path.GetFullPath(logFile, workingDirectory))}: 'tpt {command}' appends its log there; 'tpt -c' logs to stderr.");
        }
    }

    /// <summary>
    /// An upstream's <c>tls:</c> as ptw and uotp-client build their client context (their <c>-C -c -k
    /// --no-hostname-check --tls-servername</c>), at the upstream's indentation; <c>tls: {}</c> when none is given.
    /// </summary>
    public static void ClientTls(Action<string> line, string? caFile, string? cert, string? key, bool noHostnameCheck, string? serverName, string workingDirectory)
    {
        var keys = new List<string>();
        if (caFile is not null)
        {
            // -C adds to the system's roots (ptw's help says "override", its code adds): tpt's ca does the same.
            keys.Add($"ca: {Quote(Path.GetFullPath(caFile, workingDirectory))}");
        }

        if (cert is not null)
        {
            keys.Add($"cert: {Quote(Path.GetFullPath(cert, workingDirectory))}");

            // -k is read only with -c; without -k the key is in the certificate's file, as tpt reads it too.
            if (key is not null)
            {
                keys.Add($"key: {Quote(Path.GetFullPath(key, workingDirectory))}");
            }
        }

        if (noHostnameCheck)
        {
            keys.Add("verify: chain");
        }

        if (serverName is not null)
        {
            keys.Add($"server_name: {Quote(serverName)}");
        }

        if (keys.Count == 0)
        {
            line("    tls: {}");
            return;
        }

        line("    tls:");
        foreach (var entry in keys)
        {
            line($"      {entry}");
        }
    }

    /// <summary>A <c>listen:</c> entry: the address with the port, an IPv6 one in brackets.</summary>
    public static string ListenAddress(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{address}]:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"{address}:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>An upstream address: <c>scheme://host:port</c>, a bare IPv6 host put in brackets.</summary>
    public static string Url(string scheme, string host, int port)
    {
        var shown = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 && !host.StartsWith('[') ? $"[{host}]" : host;
        return $"{scheme}://{shown}:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>Whole seconds as <c>Ns</c>, anything finer in milliseconds (at least 1).</summary>
    public static string Duration(double seconds)
    {
        if (seconds == Math.Floor(seconds) && seconds < int.MaxValue / 1000)
        {
            return $"{seconds.ToString("0", CultureInfo.InvariantCulture)}s";
        }

        var millis = Math.Max(1, Math.Round(seconds * 1000, MidpointRounding.AwayFromZero));
        return $"{millis.ToString("0", CultureInfo.InvariantCulture)}ms";
    }

    /// <summary>A double-quoted YAML scalar; <c>$</c> doubled, since tpt expands environment variables in every value.</summary>
    public static string Quote(string value)
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
    public static string ShellWord(string word)
    {
        var printable = new string([.. word.Select(c => char.IsControl(c) ? '?' : c)]);
        return printable.Length > 0 && printable.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@%+".Contains(c, StringComparison.Ordinal))
            ? printable
            : "'" + printable.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
