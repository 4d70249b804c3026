using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Tls;

/// <summary>A leg whose bytes go through TLS that tpt speaks itself (terminated or originated).</summary>
/// <param name="gate">The gate of the <see cref="PrefixedStream"/> under <paramref name="stream"/>.</param>
/// <param name="pendingRead">A read already pending on <paramref name="stream"/> through <paramref name="gate"/> (a pooled connection's idle watch): the first read waits for it, as SslStream allows one read at a time.</param>
internal sealed class TlsLeg(Socket socket, SslStream stream, TlsReadGate gate, Task? pendingRead = null) : IConnectionLeg
{
    private Task? _pendingRead = pendingRead;

    public Socket Socket { get; } = socket;

    public SslStream Stream { get; } = stream;

    /// <summary>The TLS alert the peer ended the session with (a TLS 1.3 server refuses a client certificate only after the handshake); null when none.</summary>
    public string? Alert { get; private set; }

    public void NoteReadFailure(Exception error)
    {
        var text = TlsHandshakeResults.Describe(error);
        if (text.Contains(" alert ", StringComparison.Ordinal))
        {
            Alert = text;
        }
    }

    // SslStream supports zero-byte reads: it waits on the socket without renting its record buffer, so an idle
    // TLS leg holds no buffer either.
    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_pendingRead is { } pending)
        {
            _pendingRead = null;
            return ReadAfterAsync(pending, buffer, ct);
        }

        return gate.ReadAsync(Stream, buffer, ct);
    }

    private async ValueTask<int> ReadAfterAsync(Task pending, Memory<byte> buffer, CancellationToken ct)
    {
        await pending.WaitAsync(ct);
        return await gate.ReadAsync(Stream, buffer, ct);
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, SendStallWatch? stall = null, int slot = 0)
    {
        var pending = Stream.WriteAsync(data);
        if (pending.IsCompleted || stall is null)
        {
            await pending;
            return;
        }

        // The encrypted records did not fit in the socket's send buffer: progress is the peer's TCP
        // acknowledgements on the socket underneath, as for a plain leg.
        stall.SendPending(slot, Socket);
        try
        {
            await pending;
        }
        finally
        {
            stall.SendDone(slot);
        }
    }

    public async ValueTask ShutdownSendAsync()
    {
        // close_notify first, so the peer can tell an end from a truncation; then the FIN that a plain peer expects.
        // The other direction may be reading this stream right now: see TlsReadGate.
        try
        {
            await await gate.StartShutdownAsync(Stream.ShutdownAsync).ConfigureAwait(false);
        }
        catch (CryptographicException)
        {
            // OpenSSL refused to write close_notify (the session is mid-way through a handshake message, or
            // already failed): the FIN below still ends the direction, which is what the peer must learn.
        }

        Socket.Shutdown(SocketShutdown.Send);
    }

    public void Dispose()
    {
        Stream.Dispose();
        Socket.Dispose();
    }
}
