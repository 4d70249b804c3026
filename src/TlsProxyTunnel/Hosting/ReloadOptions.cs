namespace TlsProxyTunnel.Hosting;

/// <summary>Where the running configuration came from, so a reload reads the same file the same way.</summary>
internal sealed record ReloadOptions(string ConfigPath, Func<string, string?> Environment, bool Watch);
