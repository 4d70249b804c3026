namespace TlsProxyTunnel.Connections.Stages;

/// <summary>
/// One step of taking a client in before its upstream serves it: read the hello, route, terminate TLS; later a
/// transparent lookup, a PROXY header, decapsulation. Composed per server when the snapshot is built.
/// </summary>
internal interface IClientStage
{
    /// <summary>
    /// May hold its thread for long before its first real wait: a TLS server handshake computes its key exchange,
    /// signs and checks certificates on whatever thread runs it, and with the client's bytes already there it never
    /// waits at all. The handler starts on the accept loop's thread, so it leaves that thread before such a stage.
    /// </summary>
    bool HoldsThread { get; }

    /// <summary>Runs on a client the Linux engine drives; a server with any stage that does not stays on System.Net.Sockets.</summary>
    bool RunsOnEngine => false;

    /// <summary>Does this stage's job; null to go on, or the outcome the connection ends with (already logged).</summary>
    ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection);
}
