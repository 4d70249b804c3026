using System.Net.Sockets;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Datagrams;

/// <summary>A <c>udp://</c> upstream for a UDP server: each client gets its own connected socket, so its own source port.</summary>
internal sealed class UdpForwardUpstream(DatagramDialer dialer, UpstreamKeyText key, Microsoft.Extensions.Logging.ILogger logger) : IDatagramUpstream
{
    public string Name => dialer.Upstream.Name;

    public UpstreamKeyText Key => key;

    public DatagramSession Open(DatagramSessionContext context) => new UdpForwardSession(context, dialer, logger);
}

internal sealed class UdpForwardSession(DatagramSessionContext context, DatagramDialer dialer, Microsoft.Extensions.Logging.ILogger logger) : DatagramSession(context)
{
    private Socket? _socket;
    private string _address = "-";

    public override string UpstreamAddress => _address;

    public override void Start() => _ = Task.Run(RunAsync);

    protected override bool TrySendNow(ReadOnlySpan<byte> datagram)
    {
        if (Volatile.Read(ref _socket) is not { } socket || !QueueEmpty || IsClosed)
        {
            return false;
        }

        try
        {
            socket.Send(datagram, SocketFlags.None);
            OnSent(datagram.Length);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            OnDropped(DatagramDrop.SendFailed);
        }

        return true;
    }

    private async Task RunAsync()
    {
        var dialed = await dialer.ConnectUdpAsync(Closing);
        if (dialed.Value is not { } socket)
        {
            Log.UdpUpstreamUnreachable(logger, Context.Server, dialer.Upstream.Display, dialed.Error ?? "unknown error");
            Close();
            return;
        }

        _address = dialed.EndPoint!.ToString();
        Volatile.Write(ref _socket, socket);
        if (IsClosed)
        {
            socket.Dispose();
            return;
        }

        var receive = ReceiveAsync(socket);
        try
        {
            while (await Queue.WaitToReadAsync(Closing))
            {
                while (Queue.TryRead(out var frame))
                {
                    try
                    {
                        socket.Send(frame.Payload, SocketFlags.None);
                        OnSent(frame.PayloadLength);
                    }
                    catch (SocketException)
                    {
                        OnDropped(DatagramDrop.SendFailed);
                    }
                    finally
                    {
                        frame.Return();
                    }
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            // Closed.
        }

        await receive;
    }

    private async Task ReceiveAsync(Socket socket)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(UotpFrames.MaxFrame);
        try
        {
            while (!IsClosed)
            {
                try
                {
                    var received = await socket.ReceiveAsync(buffer.AsMemory(0, UotpFrames.MaxFrame), SocketFlags.None, Closing);
                    Reply(buffer.AsSpan(0, received));
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
                {
                    // ICMP unreachable for an earlier datagram: nothing listens there (yet); the session stays.
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Closed.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override void OnClosing() => _socket?.Dispose();
}
