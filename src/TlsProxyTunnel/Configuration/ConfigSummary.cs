using System.Globalization;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// The short description <c>tpt check</c> prints. Only text as written in the file is shown (never values
/// expanded from the environment), sensitive header values are redacted, and names are escaped
/// (<see cref="DiagnosticText.Printable"/>) so a control character in a key cannot reach the terminal. The status
/// page shows upstreams and vias through <see cref="Shown"/> and <see cref="ShownTarget"/>, so both follow one rule.
/// </summary>
internal static class ConfigSummary
{
    public static void Write(ProxyConfig config, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(output);
        var culture = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(culture, $"{config.SourcePath}: version {config.Version}, log {config.Log}, format {LogFormatNames.Name(config.LogFormat)}"));
        output.WriteLine(string.Create(culture, $"servers ({config.Servers.Count}):"));
        foreach (var server in config.Servers)
        {
            output.WriteLine(string.Create(culture, $"  {Show(server.Name)}: {(server.Tls ? "tls" : "tcp")}, maxclients {server.MaxClients}"));
            output.WriteLine(string.Create(culture, $"    listen: {(server.Listen.Count == 0 ? "(none)" : string.Join(", ", server.Listen.Select(l => Show(l.Text))))}"));
            foreach (var route in server.Sni)
            {
                var via = route.Via is null ? "" : $" [via {Describe(route.Via)}]";
                output.WriteLine(string.Create(culture, $"    sni {Show(route.Pattern)} -> {Show(route.UpstreamWritten ?? route.Upstream)}{via}"));
            }

            output.WriteLine(string.Create(culture, $"    default -> {Show(server.DefaultWritten ?? server.Default)}"));
            if (!server.Via.IsDirect)
            {
                output.WriteLine(string.Create(culture, $"    via: {Describe(server.Via)}"));
            }
        }

        var user = config.Upstreams.Values.Where(u => u.Kind == UpstreamKind.Tcp).ToList();
        output.WriteLine(string.Create(culture, $"upstreams ({user.Count} defined; ban, echo and health built in):"));
        foreach (var upstream in user)
        {
            output.WriteLine(string.Create(culture, $"  {Show(upstream.Name)}: {Show(Shown(upstream))}"));
        }
    }

    /// <summary>An upstream as the file wrote it: its URL before expansion, or a built-in's name.</summary>
    internal static string Shown(UpstreamConfig upstream) => upstream.Display;

    /// <summary>Where a via sends its CONNECT, as the file wrote it, without the headers.</summary>
    internal static string ShownTarget(ViaConfig via) =>
        via.IsDirect ? "direct"
        : via.UseSniAsTarget ? string.Create(CultureInfo.InvariantCulture, $"CONNECT <sni>:{via.TargetPort}")
        : $"CONNECT {via.TargetDisplay}";

    private static string Describe(ViaConfig via)
    {
        var target = ShownTarget(via);
        return via.IsDirect || via.Headers.Count == 0 ? target : $"{target} with {string.Join("; ", via.Headers.Select(h => Show(h.ToString())))}";
    }

    private static string Show(string text) => DiagnosticText.Printable(text);
}
