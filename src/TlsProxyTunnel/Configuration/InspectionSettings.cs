namespace TlsProxyTunnel.Configuration;

/// <summary>A server's <c>capture.mode</c>.</summary>
internal enum CaptureMode
{
    /// <summary>The file starts empty when tpt starts (prox.py's <c>-l</c>); a reload keeps writing to it.</summary>
    Truncate,

    /// <summary>New lines go after what the file holds.</summary>
    Append,
}

/// <summary><c>servers.NAME.capture</c>: every chunk relayed, written as prox.py's log lines (proxcat reads them).</summary>
/// <param name="Path">The absolute path of the capture file.</param>
/// <param name="Display">The path as written in the configuration, safe to log.</param>
internal sealed record CaptureSettings(string Path, CaptureMode Mode, string Display);

/// <summary>Which bytes a filter changes: <c>i</c> from the client, <c>o</c> to the client (prox.py's letters).</summary>
[Flags]
internal enum FilterDirections
{
    In = 1,
    Out = 2,
    Both = In | Out,
}

/// <summary>A built-in byte transform of <c>servers.NAME.filters</c>.</summary>
internal enum FilterKind
{
    /// <summary>ASCII a-z to A-Z (prox.py's example module).</summary>
    Uppercase,

    /// <summary>ASCII A-Z to a-z.</summary>
    Lowercase,

    /// <summary>Every occurrence of <see cref="FilterSettings.From"/> within a chunk becomes <see cref="FilterSettings.To"/>.</summary>
    Replace,
}

/// <summary>One entry of <c>filters</c>, applied per chunk in file order, before the chunk is captured and sent.</summary>
internal sealed record FilterSettings(FilterDirections Directions, FilterKind Kind, byte[] From, byte[] To)
{
    public static FilterSettings Case(FilterDirections directions, FilterKind kind) => new(directions, kind, [], []);
}
