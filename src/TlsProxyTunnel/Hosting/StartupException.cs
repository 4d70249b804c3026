namespace TlsProxyTunnel.Hosting;

/// <summary>The service cannot start (a port cannot be bound); the process exits 1 with this message.</summary>
internal sealed class StartupException(string message) : Exception(message);
