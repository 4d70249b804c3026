using Microsoft.Extensions.Logging;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// The one level vocabulary, shared by <c>log:</c>, TPT_LOG and RUST_LOG. env_logger's names (case-insensitive, as
/// there), plus the .NET spellings TPT_LOG always took and tls-proxy-tunnel's <c>disable</c>.
/// </summary>
internal static class LogLevels
{
    /// <summary>The names to show in messages: one per level.</summary>
    public const string Expected = "trace, debug, info, warn, error or off";

    private static readonly Dictionary<string, LogLevel> Table = new(StringComparer.OrdinalIgnoreCase)
    {
        ["trace"] = LogLevel.Trace,
        ["debug"] = LogLevel.Debug,
        ["info"] = LogLevel.Information,
        ["information"] = LogLevel.Information,
        ["warn"] = LogLevel.Warning,
        ["warning"] = LogLevel.Warning,
        ["error"] = LogLevel.Error,
        ["off"] = LogLevel.None,
        ["none"] = LogLevel.None,
        ["disable"] = LogLevel.None,
    };

    public static IEnumerable<string> Names => Table.Keys;

    public static bool TryParse(string text, out LogLevel level) => Table.TryGetValue(text.Trim(), out level);

    /// <summary>The env_logger name of a level, as <c>tpt check</c> shows it.</summary>
    public static string Name(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error or LogLevel.Critical => "error",
        _ => "off",
    };
}
