using System.Net.Sockets;

namespace TlsProxyTunnel.Relay;

/// <summary>
/// One side of a connection (client or upstream): a plain socket, or a TLS stream over one. The relay copies
/// between two legs; it keeps its socket fast path when both are <see cref="SocketLeg"/>.
/// </summary>
/// <remarks>
/// Failures surface as the exceptions the transport throws (<see cref="SocketException"/>,
/// <see cref="IOException"/>, <see cref="ObjectDisposedException"/>); <see cref="LegErrors"/> sorts them.
/// </remarks>
internal interface IConnectionLeg : IDisposable
{
    /// <summary>The socket underneath: reset on abort, watched for send progress (write_timeout).</summary>
    Socket Socket { get; }

    /// <summary>Reads at most <paramref name="buffer"/>'s length; 0 means the peer ended its direction. An empty buffer waits for data without consuming it.</summary>
    ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default);

    /// <summary>Writes every byte; calls <see cref="SendStallWatch.SendPending"/> when the write cannot complete at once.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, SendStallWatch? stall = null, int slot = 0);

    /// <summary>Ends this direction: close_notify for TLS, then FIN.</summary>
    ValueTask ShutdownSendAsync();

    /// <summary>A read failed with <paramref name="error"/>; a TLS leg keeps the peer's alert for the outcome and the log.</summary>
    void NoteReadFailure(Exception error);
}

/// <summary>A plain TCP leg.</summary>
internal sealed class SocketLeg(Socket socket) : IConnectionLeg
{
    public Socket Socket { get; } = socket;

    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Socket.ReceiveAsync(buffer, SocketFlags.None, ct);

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, SendStallWatch? stall = null, int slot = 0) =>
        DuplexRelay.SendAllAsync(Socket, data, stall, slot);

    public ValueTask ShutdownSendAsync()
    {
        Socket.Shutdown(SocketShutdown.Send);
        return ValueTask.CompletedTask;
    }

    public void NoteReadFailure(Exception error)
    {
        // A reset is all a socket can say; the relay's blame already tells it.
    }

    public void Dispose() => Socket.Dispose();
}

/// <summary>Sorts the exceptions of a leg's operations into "cut from outside" and "this side failed".</summary>
internal static class LegErrors
{
    /// <summary>Errors a leg's operations are expected to throw; anything else is a bug.</summary>
    public static bool IsTransport(Exception e) =>
        e is SocketException or IOException or ObjectDisposedException or System.Security.Authentication.AuthenticationException or OperationCanceledException;

    /// <summary>The peer closed or reset the connection: nothing about the connection's settings failed.</summary>
    public static bool IsPeerGone(Exception e)
    {
        for (var current = (Exception?)e; current is not null; current = current.InnerException)
        {
            if (current is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown }
                || (current is IOException && current.InnerException is null && current.Message.Contains("unexpected EOF", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The socket was closed under the operation (abort, shutdown, the other side's failure).</summary>
    public static bool IsAborted(Exception e)
    {
        for (var current = (Exception?)e; current is not null; current = current.InnerException)
        {
            if (current is ObjectDisposedException or OperationCanceledException
                || (current is SocketException s && s.SocketErrorCode == SocketError.OperationAborted))
            {
                return true;
            }
        }

        return false;
    }
}
