using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TlsProxyTunnel.Cli;

/// <summary>
/// Writes the tpt configuration equivalent to a prox.py command line: one server <c>prox</c> on prox.py's listen
/// address, terminating TLS with <c>--ssl-in</c> (a certificate file, or minted per name with <c>-A</c>), capturing with
/// <c>-l</c>, whose default is one upstream: the destination (or each client's original destination with <c>-O</c>),
/// over TLS with <c>--ssl-out</c>.
/// </summary>
internal static class ProxConfigWriter
{
    public const string ServerName = "prox";
    public const string UpstreamName = "dst";

    /// <summary>prox.py takes every client; tpt needs a number.</summary>
    public const int MaxClients = 100_000;

    /// <param name="workingDirectory">What prox.py's relative file names are relative to (the file is read from elsewhere).</param>
    public static string Write(ProxOptions options, string workingDirectory)
    {
        var yaml = new StringBuilder();
        void Line(string text) => yaml.Append(text).Append('\n');
        string FullPath(string name) => GeneratedYaml.Quote(Path.GetFullPath(name, workingDirectory));

        GeneratedYaml.Heading(Line, "prox", "prox.py", options.Arguments);
        if (options.OneShot)
        {
            Line("# -1: 'tpt prox' exits after the first connection; 'tpt -c' serves connections until stopped.");
        }

        Line("version: 2");
        Line("servers:");
        Line($"  {ServerName}:");
        Line($"    listen: [{string.Join(", ", Listen(options).Select(GeneratedYaml.Quote))}]");
        if (options.SslIn)
        {
            Line("    terminate_tls:");
            if (options.AutoName is { } name)
            {
                // -A: prox.py made one SHA-1 certificate for this name; tpt mints one per client name (SAN, SHA-256).
                Line("      mint:");
                Line($"        ca_cert: {FullPath(options.CertBase + ".pem")}");
                Line("        validity: 7d");
                Line($"      fallback_name: {GeneratedYaml.Quote(name)}");
            }
            else
            {
                Line($"      cert: {FullPath(options.CertBase + ".pem")}");
            }
        }

        if (options.LogFile is { } log)
        {
            Line("    capture:");
            Line($"      path: {FullPath(log)}");
            Line("      mode: truncate");
        }

        if (options.OriginalDestination)
        {
            Line("    transparent: true");
        }

        if (options.OneShot)
        {
            Line("    maxclients: 1");
        }
        else
        {
            Line($"    maxclients: {MaxClients.ToString(CultureInfo.InvariantCulture)}  # prox.py has no cap");
        }

        // prox.py has no timeouts; a client may sit idle as long as it likes.
        Line("    write_timeout: off");
        Line("    # filters:  # prox.py's -m, built in: uppercase, lowercase, replace");
        Line("    #   - {direction: o, uppercase: true}");
        Line("    #   - {direction: i, replace: {from: \"Accept-Encoding: gzip\", to: \"Accept-Encoding: none\"}}");
        Line($"    default: {UpstreamName}");
        Line("upstream:");
        Line($"  {UpstreamName}:");
        Line($"    address: {(options.OriginalDestination ? "original_dst" : GeneratedYaml.Quote(Url(options.Address!, options.Port!.Value)))}");
        if (options.SslOut)
        {
            Line("    tls:");

            // prox.py sent no SNI and checked nothing. tpt passes on the name the client asked for (when TLS was
            // terminated, there is one) and, like prox.py, does not verify: it is a testing tool between one's own peers.
            if (options.SslIn)
            {
                Line("      server_name: from_client");
            }

            Line("      verify: none");
            if (options.ClientCert is { } client)
            {
                Line($"      cert: {FullPath(client + ".cert")}");
                Line($"      key: {FullPath(client + ".key")}");
            }
        }

        return yaml.ToString();
    }

    /// <summary>prox.py's listener: <c>-b</c> and <c>-L</c>; with <c>-6</c> on <c>::</c> it took IPv4 too, so tpt listens on both.</summary>
    private static IEnumerable<string> Listen(ProxOptions options)
    {
        var port = options.ListenPort.ToString(CultureInfo.InvariantCulture);
        var bind = options.Bind;
        if (bind == "::")
        {
            return [$"0.0.0.0:{port}", $"[::]:{port}"];
        }

        return IPAddress.TryParse(bind.Trim('[', ']'), out var address) && address.AddressFamily == AddressFamily.InterNetworkV6
            ? [$"[{address}]:{port}"]
            : [$"{bind}:{port}"];
    }

    private static string Url(string host, int port)
    {
        var shown = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{host}]" : host;
        return $"tcp://{shown}:{port.ToString(CultureInfo.InvariantCulture)}";
    }
}
