using System.Diagnostics;

namespace TlsProxyTunnel.Connections.Stages;

/// <summary>Reads the ClientHello (when the server routes by SNI or terminates TLS) and keeps the bytes for replay.</summary>
internal sealed class ReadHelloStage(bool read) : IClientStage
{
    // Its reads complete at once while the client's bytes are there, but a hello is capped (client_hello_max_bytes).
    public bool HoldsThread => false;

    public bool RunsOnEngine => true;

    // Pooled: one per connection, and a burst of clients would otherwise leave one box each as garbage.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection)
    {
        var server = connection.Server;
        if (read)
        {
            var config = server.Config;
            // Bytes a PROXY header stage read past the header (or accepted as no header) start the hello; the
            // timeout counts from the accept, so a header that came slowly leaves the hello less time.
            var prefix = connection.TakeInitialBytes(out var prefixLength);
            var timeout = config.ClientHelloTimeout - Stopwatch.GetElapsedTime(connection.StartTimestamp);
            var hello = connection.ClientEngine is { } engine
                ? await ClientHelloReader.ReadAsync(engine, config.ClientHelloMaxBytes, timeout, server.Router, prefix, prefixLength)
                : await ClientHelloReader.ReadAsync(connection.Client, config.ClientHelloMaxBytes, timeout, server.Router, prefix, prefixLength);
            connection.SetInitialBytes(hello.Buffer, hello.Length);
            connection.Sni = hello.Sni;
            connection.Hello = hello.Outcome;
        }

        server.Metrics.OnHelloOutcome(connection.Hello, Stopwatch.GetElapsedTime(connection.StartTimestamp));
        if (connection.Hello == HelloReadOutcome.Sni || HelloReadOutcomes.RoutesToDefault(connection.Hello))
        {
            return null;
        }

        return connection.Hello == HelloReadOutcome.ClientClosed && connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.HelloFailed;
    }
}
