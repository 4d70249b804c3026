using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// A listening socket and the loop that hands each accepted connection to a handler. Every fake
/// server in the tests needs exactly this, so each one keeps only what it does with a connection.
/// </summary>
public sealed class AcceptLoop : IAsyncDisposable
{
    /// <summary>What <see cref="TcpListener.Start()"/> asks for, which the servers built on TcpListener used.</summary>
    public const int DefaultBacklog = (int)SocketOptionName.MaxConnections;

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<Socket, CancellationToken, Task> _serve;
    private readonly Task _loop;
    private long _accepted;

    /// <param name="serve">
    /// Owns the accepted socket. The loop does not await it, so it runs concurrently with the next accept;
    /// the token is cancelled when the loop is disposed.
    /// </param>
    /// <param name="address">Where to listen; other loopback addresses (127.0.0.2, …) let DNS tests tell servers apart.</param>
    /// <param name="port">0 lets the OS choose; a concrete port lets two servers share one port on different addresses.</param>
    /// <param name="backlog">Connections the kernel queues before the loop accepts them; soak churn arrives in bursts.</param>
    /// <param name="receiveBuffer">
    /// SO_RCVBUF for accepted sockets (0 leaves the default), set on the listener so it applies from the
    /// handshake on: a small window makes a peer that never reads fill up after a few KiB.
    /// </param>
    /// <param name="runOnThreadPool">
    /// Starts the loop with Task.Run rather than inline, so the loop and the handlers it starts do not run on
    /// the constructing caller's synchronization context (under xunit, one that caps concurrency).
    /// </param>
    public AcceptLoop(
        Func<Socket, CancellationToken, Task> serve,
        IPAddress? address = null,
        int port = 0,
        int backlog = DefaultBacklog,
        bool runOnThreadPool = false,
        int receiveBuffer = 0)
    {
        ArgumentNullException.ThrowIfNull(serve);
        _serve = serve;
        var endPoint = new IPEndPoint(address ?? IPAddress.Loopback, port);
        _listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (receiveBuffer > 0)
            {
                _listener.ReceiveBufferSize = receiveBuffer;
            }

            _listener.Bind(endPoint);
            _listener.Listen(backlog);
        }
        catch
        {
            // A port clash is expected by callers that retry with another port; they must not leak a socket per try.
            _listener.Dispose();
            _stop.Dispose();
            throw;
        }

        // Cached so the address still reads after disposal, when the socket would throw.
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _loop = runOnThreadPool ? Task.Run(RunAsync) : RunAsync();
    }

    public IPEndPoint EndPoint { get; }

    public long Accepted => Interlocked.Read(ref _accepted);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();

        // Bounded so a wedged loop fails the test (TimeoutException) instead of hanging the run.
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Disposal cancels the token and closes the socket; whichever the accept sees first ends the loop.
                return;
            }

            Interlocked.Increment(ref _accepted);
            _ = _serve(socket, token);
        }
    }
}
