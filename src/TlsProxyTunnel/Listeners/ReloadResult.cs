namespace TlsProxyTunnel.Listeners;

/// <summary>What applying a new generation did: listeners it added (server and address) and removed (address).</summary>
internal sealed record ReloadResult(bool Applied, string? Error, IReadOnlyList<string> Added, IReadOnlyList<string> Removed);
