using Microsoft.Extensions.Logging;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// A parsed log filter: a default level and per-category levels, the form .NET's logger filter rules take.
/// </summary>
/// <param name="Default">The level of every category no rule names.</param>
/// <param name="Rules">Category prefix → level; the longest matching prefix wins, as in .NET and env_logger.</param>
internal sealed record LogFilter(LogLevel Default, IReadOnlyDictionary<string, LogLevel> Rules)
{
    public static readonly LogFilter Info = new(LogLevel.Information, new Dictionary<string, LogLevel>());

    /// <summary>What tpt does with the filter, in its own categories: "info (TlsProxyTunnel: debug)".</summary>
    public override string ToString() => Rules.Count == 0
        ? LogLevels.Name(Default)
        : $"{LogLevels.Name(Default)} ({string.Join(", ", Rules.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}: {LogLevels.Name(r.Value)}"))})";
}

/// <param name="Filter">Null when there are errors.</param>
/// <param name="Warnings">Directives that were understood but cannot be honoured (other crates, span and message filters).</param>
internal sealed record LogFilterParse(LogFilter? Filter, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings);
