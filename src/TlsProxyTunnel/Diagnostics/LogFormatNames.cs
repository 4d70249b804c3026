using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>The values of <c>log-format</c>.</summary>
internal static class LogFormatNames
{
    public static readonly IReadOnlyDictionary<string, LogFormat> Table = new Dictionary<string, LogFormat>(StringComparer.Ordinal)
    {
        ["txt"] = LogFormat.Text,
        ["text"] = LogFormat.Text,
        ["json"] = LogFormat.Json,
        ["json-dotnet"] = LogFormat.JsonDotnet,
    };

    public static string Name(LogFormat format) => format switch
    {
        LogFormat.Json => "json",
        LogFormat.JsonDotnet => "json-dotnet",
        _ => "txt",
    };
}
