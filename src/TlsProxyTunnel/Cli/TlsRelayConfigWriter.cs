using System.Globalization;
using System.Text;

namespace TlsProxyTunnel.Cli;

/// <summary>
/// Writes the tpt configuration equivalent to a tx_tlsrelay command line: one <c>kind: tls_relay</c> server on every
/// IPv4 interface (as the original binds), its control channel terminated with the key directory's certificates and
/// client certificates required against its CA.
/// </summary>
internal static class TlsRelayConfigWriter
{
    public const string ServerName = "tlsrelay";

    /// <summary>The original takes every control connection; tpt needs a number. Pairs are the real limit.</summary>
    public const int MaxClients = 1_000_000;

    /// <param name="workingDirectory">What a relative key directory is relative to (the file is read from elsewhere).</param>
    public static string Write(TlsRelayOptions options, string workingDirectory)
    {
        var yaml = new StringBuilder();
        void Line(string text) => yaml.Append(text).Append('\n');
        string File(string name) => GeneratedYaml.Quote(Path.Combine(Path.GetFullPath(options.Keys, workingDirectory), name));
        var port = options.Port.ToString(CultureInfo.InvariantCulture);

        GeneratedYaml.Heading(Line, "tlsrelay", "tx_tlsrelay", options.Arguments);
        Line("version: 2");
        Line("servers:");
        Line($"  {ServerName}:");
        Line("    kind: tls_relay");
        Line($"    listen: [\"0.0.0.0:{port}\"]");
        Line($"    maxclients: {MaxClients.ToString(CultureInfo.InvariantCulture)}  # tx_tlsrelay has no cap; pairs are the limit");
        Line("    terminate_tls:");
        Line($"      cert: {File("server.crt.pem")}");
        Line($"      key: {File("server.key.pem")}");
        Line($"      client_ca: {File("ca.crt.pem")}");
        Line("      client_cert: require");
        Line("    relay:");
        Line($"      advertise_host: {GeneratedYaml.Quote(options.MyHost)}");
        Line($"      port_count: {options.PortCount.ToString(CultureInfo.InvariantCulture)}");
        Line("      bind: \"0.0.0.0\"");
        Line("      pending_timeout: 0s          # the original's: unpaired public clients wait for ever");
        Line("      max_pending_bytes: 65536     # the original buffers without limit; tpt stops reading at this");
        Line("      ignore_control_input: true   # the original drops a session whose server sends a line");
        Line("upstream: {}");
        return yaml.ToString();
    }
}
