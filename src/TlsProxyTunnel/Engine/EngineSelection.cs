using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Engine;

/// <summary>
/// Which engine a server's connections run on: the one place that decides, from the server's <c>engine</c>, the
/// process default (<c>TPT_ENGINE</c>) and whether the Linux engine can run here. The configuration reader, the
/// start-up and the snapshot builder all ask here, so they cannot disagree.
/// </summary>
internal static class EngineSelection
{
    /// <summary>Why an explicit <c>linux</c> cannot be had; the caller says where it was asked for.</summary>
    public const string Unsupported = "the Linux engine cannot run here (it needs Linux on x64 or arm64); use 'auto' or 'sockets'";

    /// <summary>
    /// The server's explicit choice wins, else the process default's; auto on both is the Linux engine where it can
    /// run, else the sockets engine. An explicit <c>linux</c> where it cannot run fails with <paramref name="error"/>
    /// (<see cref="Unsupported"/>) rather than quietly running something else.
    /// </summary>
    public static bool TryResolve(EngineChoice server, EngineChoice processDefault, bool linuxSupported, out EngineKind kind, out string? error)
    {
        var chosen = server != EngineChoice.Auto ? server : processDefault;
        kind = chosen switch
        {
            EngineChoice.Linux => EngineKind.Linux,
            EngineChoice.Sockets => EngineKind.Sockets,
            _ => linuxSupported ? EngineKind.Linux : EngineKind.Sockets,
        };

        if (kind == EngineKind.Linux && !linuxSupported)
        {
            kind = EngineKind.Sockets;
            error = Unsupported;
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>
    /// A configured server's engine. A UDP server always runs on sockets (the Linux engine carries streams only),
    /// whatever the process default says; its <c>engine: linux</c> was refused when the file was read.
    /// </summary>
    public static bool TryResolve(ServerConfig server, EngineChoice processDefault, bool linuxSupported, out EngineKind kind, out string? error)
    {
        ArgumentNullException.ThrowIfNull(server);
        if (server.IsUdp)
        {
            kind = EngineKind.Sockets;
            error = null;
            return true;
        }

        return TryResolve(server.Engine, processDefault, linuxSupported, out kind, out error);
    }

    /// <summary>
    /// For the builder and the reports (<c>check</c>, <c>explain</c>), after both explicit sources were checked: the
    /// server's <c>engine</c> when the file was read, <c>TPT_ENGINE</c> at start-up.
    /// </summary>
    /// <exception cref="InvalidOperationException">An explicit <c>linux</c> where it cannot run got past those checks.</exception>
    public static EngineKind Resolve(ServerConfig server, EngineChoice processDefault) =>
        TryResolve(server, processDefault, Linux.LinuxEngine.IsSupported, out var kind, out var error)
            ? kind
            : throw new InvalidOperationException($"server {DiagnosticText.Quote(server.Name)}: {error}; the configuration and TPT_ENGINE are checked before this");

    /// <summary>As logs, <c>/metrics</c> and the reports write it.</summary>
    public static string Name(EngineKind kind) => kind == EngineKind.Linux ? "linux" : "sockets";
}
