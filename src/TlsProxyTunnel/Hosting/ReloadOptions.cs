namespace TlsProxyTunnel.Hosting;

/// <summary>Where the running configuration came from, so a reload reads the same file the same way.</summary>
internal sealed record ReloadOptions(string ConfigPath, Func<string, string?> Environment, bool Watch)
{
    /// <summary>How long --watch waits before acting on a change; see <see cref="WatchTiming"/>.</summary>
    public WatchTiming Timing { get; init; } = WatchTiming.Default;

    /// <summary>TPT_ENGINE as read (and checked) at start: a reload builds with the same process default.</summary>
    public Configuration.EngineChoice Engine { get; init; }
}

/// <param name="Settle">
/// The file must be unchanged (no event, same size, modification time and target) for this long before it is read.
/// </param>
/// <param name="RemovalSettle">
/// A change that removes a server or a listener waits until the file has been unchanged this long: a writer that
/// pauses longer than <paramref name="Settle"/> mid-write leaves a file that still parses but lacks its tail, and
/// applying it would close listeners only to open them again a moment later.
/// </param>
/// <param name="ErrorGrace">
/// A file that does not load is treated as "not written yet" until it has been unchanged this long; only then
/// are its errors reported.
/// </param>
internal sealed record WatchTiming(TimeSpan Settle, TimeSpan RemovalSettle, TimeSpan ErrorGrace)
{
    public static readonly WatchTiming Default = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3));
}
