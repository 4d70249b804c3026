namespace TlsProxyTunnel.Connections.Stages;

/// <summary>
/// One step of taking a client in before its upstream serves it: read the hello, route, terminate TLS; later a
/// transparent lookup, a PROXY header, decapsulation. Composed per server when the snapshot is built.
/// </summary>
internal interface IClientStage
{
    /// <summary>Does this stage's job; null to go on, or the outcome the connection ends with (already logged).</summary>
    ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection);
}
