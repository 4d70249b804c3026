using System.Text;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>
/// Where a <c>tls_relay</c> server's control connections are routed, after its client stages (hello, terminate_tls
/// with the client certificate required) ran: it links the session to a free pair and speaks tx_tlsrelay's lines,
/// relay to server only, CRLF-terminated, until the server leaves; then the pair's connections close and it is freed.
/// </summary>
internal sealed class RelayControlUpstream(RelayHubs hubs, ILogger logger) : IUpstream
{
    private static readonly byte[] NoAvailableListeners = "no_available_listeners\r\n"u8.ToArray();
    private static readonly byte[] NewConnection = "new_connection\r\n"u8.ToArray();

    // Lines owed at once are written together, up to this many per write.
    private const int LinesPerWrite = 256;

    public string Name => "relay";

    public bool ServesInline => false;

    public async ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route)
    {
        var leg = connection.ClientLeg;
        var client = connection.RemoteEndPoint?.ToString() ?? "-";
        if (hubs.Get(connection.Server.Name) is not { } hub)
        {
            return ConnectionOutcome.Aborted;
        }

        // Bytes already read from the server (none in the protocol) count as control input like any other.
        connection.ReleaseInitialBytes();
        using var owed = new LineDebt();
        var session = hub.NewSession(owed.Add);
        try
        {
            if (hub.Link(session) is not { } pair)
            {
                RelayLog.Full(logger, hub.Server, client);
                await leg.WriteAsync(NoAvailableListeners);
                connection.Counters.AddToClient(NoAvailableListeners.Length);
                await leg.ShutdownSendAsync();
                return ConnectionOutcome.Completed;
            }

            var host = hub.Settings.AdvertiseHost;
            var lines = Encoding.ASCII.GetBytes($"public_listener {host}:{pair.PublicPort}\r\nreverse_listener {host}:{pair.ReversePort}\r\n");
            RelayLog.Linked(logger, hub.Server, client, pair.Index, host, pair.PublicPort, pair.ReversePort);
            try
            {
                await leg.WriteAsync(lines);
                connection.Counters.AddToClient(lines.Length);
                var input = ReadControlAsync(connection, hub, client);
                while (true)
                {
                    var wake = owed.WaitAsync();
                    var first = await Task.WhenAny(wake, input, session.Ended);
                    if (first == input)
                    {
                        return await input;
                    }

                    if (first == session.Ended)
                    {
                        return ConnectionOutcome.Aborted;
                    }

                    for (var n = owed.Take(); n > 0; n -= LinesPerWrite)
                    {
                        var batch = Math.Min(n, LinesPerWrite);
                        var buffer = new byte[batch * NewConnection.Length];
                        for (var i = 0; i < batch; i++)
                        {
                            NewConnection.CopyTo(buffer, i * NewConnection.Length);
                        }

                        await leg.WriteAsync(buffer);
                        connection.Counters.AddToClient(buffer.Length);
                    }
                }
            }
            finally
            {
                hub.Unlink(session);
                RelayLog.Unlinked(logger, hub.Server, client, pair.Index);
            }
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            return ConnectionOutcome.ClientError;
        }
    }

    /// <summary>Until the server leaves: what it sends is discarded, or (ignore_control_input: false) ends the session at the first line.</summary>
    private async Task<ConnectionOutcome> ReadControlAsync(ClientConnection connection, RelayHub hub, string client)
    {
        var buffer = new byte[512];
        try
        {
            while (true)
            {
                var read = await connection.ClientLeg.ReadAsync(buffer);
                if (read == 0)
                {
                    return ConnectionOutcome.Completed;
                }

                connection.Counters.AddFromClient(read);
                if (!hub.Settings.IgnoreControlInput && buffer.AsSpan(0, read).Contains((byte)'\n'))
                {
                    RelayLog.ControlInput(logger, hub.Server, client);
                    return ConnectionOutcome.ClientError;
                }
            }
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            return ConnectionOutcome.ClientError;
        }
    }

    /// <summary><c>new_connection</c> lines owed to the server: added by public accepts, taken by the writer.</summary>
    private sealed class LineDebt : IDisposable
    {
        private readonly SemaphoreSlim _signal = new(0);
        private int _owed;

        public void Add()
        {
            if (Interlocked.Increment(ref _owed) == 1)
            {
                try
                {
                    _signal.Release();
                }
                catch (ObjectDisposedException)
                {
                    // The session ended between the public accept and this line: nobody is left to tell.
                }
            }
        }

        public void Dispose() => _signal.Dispose();

        public Task WaitAsync() => _signal.WaitAsync();

        public int Take() => Interlocked.Exchange(ref _owed, 0);
    }
}
