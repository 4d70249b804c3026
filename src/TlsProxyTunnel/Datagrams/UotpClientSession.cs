using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Datagrams;

/// <summary>An <c>encapsulate: uotp</c> upstream for a UDP server (uotp-client): each client gets a session of <c>connections</c> streams.</summary>
internal sealed class UotpClientUpstream(DatagramDialer dialer, UpstreamKeyText key, ILogger logger) : IDatagramUpstream
{
    public string Name => dialer.Upstream.Name;

    public UpstreamKeyText Key => key;

    public DatagramSession Open(DatagramSessionContext context) => new UotpClientSession(context, dialer, logger);
}

/// <summary>
/// One client's uotp session: a fresh version-4 UUID, and <c>connections</c> TCP (or TLS) connections opened at
/// once, each starting with the UUID's 16 bytes. Each connection takes the next queued datagram when its last write
/// is done, so datagrams spread over whichever is free; each reads frames back to the client. A connection that fails
/// waits <c>backoff</c> and reconnects with the same UUID; all close when the session ends.
/// </summary>
internal sealed class UotpClientSession : DatagramSession
{
    private readonly DatagramDialer _dialer;
    private readonly ILogger _logger;
    private readonly byte[] _id = new byte[UotpFrames.SessionIdLength];
    private readonly IConnectionLeg?[] _legs;
    private string _address = "-";
    private int _opened;

    public UotpClientSession(DatagramSessionContext context, DatagramDialer dialer, ILogger logger)
        : base(context)
    {
        _dialer = dialer;
        _logger = logger;
        _legs = new IConnectionLeg?[dialer.Upstream.Connections];
        UotpFrames.NewSessionId(_id);
        SessionText = UotpFrames.Describe(_id);
    }

    public override string SessionText { get; }

    public override string UpstreamAddress => _address;

    public override int ConnectionsOpened => Volatile.Read(ref _opened);

    public override void Start()
    {
        for (var i = 0; i < _legs.Length; i++)
        {
            var index = i;
            _ = Task.Run(() => ConnectionLoopAsync(index));
        }
    }

    private async Task ConnectionLoopAsync(int index)
    {
        var backoff = _dialer.Upstream.Backoff;
        var upstream = _dialer.Upstream.Display;
        while (!IsClosed)
        {
            string reason;
            try
            {
                var dialed = await _dialer.ConnectStreamAsync(Closing);
                if (dialed.Value is not { } leg)
                {
                    Log.UotpConnectFailed(_logger, Context.Server, index + 1, SessionText, upstream, dialed.Error ?? "unknown error", (long)backoff.TotalMilliseconds);
                    await Task.Delay(backoff, Closing);
                    continue;
                }

                _address = dialed.EndPoint!.ToString();
                Log.UotpConnected(_logger, Context.Server, index + 1, SessionText, upstream, _address);
                reason = await RunConnectionAsync(index, leg);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (Exception e) when (LegErrors.IsTransport(e))
            {
                reason = e.Message;
            }

            if (IsClosed)
            {
                return;
            }

            Log.UotpConnectionLost(_logger, Context.Server, index + 1, SessionText, upstream, reason, (long)backoff.TotalMilliseconds);
            try
            {
                await Task.Delay(backoff, Closing);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One connection from its session id to its end; returns why it ended.</summary>
    private async Task<string> RunConnectionAsync(int index, IConnectionLeg leg)
    {
        Volatile.Write(ref _legs[index], leg);
        Interlocked.Increment(ref _opened);
        Context.Metrics.OnConnectionOpened();
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(Closing);
        try
        {
            if (IsClosed)
            {
                return "session closed";
            }

            await leg.WriteAsync(_id);
            var writer = WriteFramesAsync(leg, ended.Token);
            var reason = await ReadFramesAsync(leg);
            await ended.CancelAsync();
            var writeReason = await writer;
            return reason ?? writeReason ?? "closed";
        }
        finally
        {
            Volatile.Write(ref _legs[index], null);
            leg.Dispose();
            Context.Metrics.OnConnectionClosed();
        }
    }

    private async Task<string?> ReadFramesAsync(IConnectionLeg leg)
    {
        using var reader = new FrameReader();
        try
        {
            while (true)
            {
                switch (await reader.ReadFrameAsync(leg, UotpFrames.MaxFrame, CancellationToken.None))
                {
                    case FrameRead.Frame:
                        Reply(reader.Current.Span);
                        continue;
                    case FrameRead.End:
                        return "the server closed it";
                    default:
                        return "the server closed it inside a frame";
                }
            }
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            return IsClosed ? null : e.Message;
        }
    }

    private async Task<string?> WriteFramesAsync(IConnectionLeg leg, CancellationToken ct)
    {
        // Each connection takes what is queued when its last write is done, so datagrams spread over whichever is free.
        using var writer = new FrameWriter();
        try
        {
            await writer.RunAsync(Queue, leg, static (session, payload) => session.OnSent(payload), this, ct);
            return null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            // The read side is still waiting: end it, so that the connection is opened again.
            leg.Socket.Dispose();
            return e.Message;
        }
    }

    protected override void OnClosing()
    {
        for (var i = 0; i < _legs.Length; i++)
        {
            if (Volatile.Read(ref _legs[i]) is { } leg)
            {
                // A FIN, not a reset: the server sees the connection end as udp-over-tls-pool's does on expiry.
                try
                {
                    leg.Socket.Shutdown(SocketShutdown.Both);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // Already gone.
                }

                leg.Socket.Dispose();
            }
        }
    }
}
