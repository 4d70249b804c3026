using System.Globalization;
using System.Net;
using System.Text;

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

        GeneratedYaml.Heading(Line, "ptw", "ptw", options.Arguments);
        GeneratedYaml.LogFileComment(Line, "ptw", options.LogFile, workingDirectory);
        Line("version: 2");
        Line($"log: {LogLevel(options.Verbosity)}");
        Line("servers:");
        Line($"  {ServerName}:");
        Line($"    listen: [{string.Join(", ", listen.Select(a => GeneratedYaml.Quote(GeneratedYaml.ListenAddress(a, options.BindPort))))}]");
        if (options.ProxyProtocol != "none")
        {
            // ptw's -P is its transparent mode: the header's destination is where netfilter found the client going.
            Line("    transparent: true");
        }

        Line($"    maxclients: {MaxClients.ToString(CultureInfo.InvariantCulture)}  # ptw has no cap");
        Line($"    default: {UpstreamName}");
        Line("upstream:");
        Line($"  {UpstreamName}:");
        Line($"    address: {GeneratedYaml.Quote(GeneratedYaml.Url("tcp", options.DstAddress, options.DstPort))}");
        Line($"    connect_timeout: {GeneratedYaml.Duration(options.Timeout)}");
        GeneratedYaml.ClientTls(Line, options.CaFile, options.Cert, options.Key, options.NoHostnameCheck, options.TlsServerName, workingDirectory);
        if (options.ProxyProtocol != "none")
        {
            // Inside TLS, as ptw writes it: the default placement when the upstream has tls.
            Line($"    proxy_protocol: {options.ProxyProtocol}");
        }

        Line("    pool:");
        Line($"      size: {options.PoolSize.ToString(CultureInfo.InvariantCulture)}");
        Line($"      ttl: {GeneratedYaml.Duration(options.Ttl)}");
        Line($"      backoff: {GeneratedYaml.Duration(options.Backoff)}");
        Line($"      wait_timeout: {GeneratedYaml.Duration(options.PoolWaitTimeout)}");

        return yaml.ToString();
    }

    /// <summary>ptw's levels onto tpt's <c>log</c>: fatal has no tpt level of its own, error is the nearest.</summary>
    private static string LogLevel(string verbosity) => verbosity == "fatal" ? "error" : verbosity;
}
