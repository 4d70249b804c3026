using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// A backend that runs one script per accepted connection (reset it, never read, close at once...), then closes
/// it. What a script's peer does to the socket (a reset, tpt's cut) ends the script quietly.
/// </summary>
public sealed class ScriptedBackend : IAsyncDisposable
{
    private readonly AcceptLoop _loop;

    /// <param name="receiveBuffer">SO_RCVBUF of accepted connections; see <see cref="AcceptLoop"/>.</param>
    public ScriptedBackend(Func<Socket, Task> script, int receiveBuffer = 0)
    {
        ArgumentNullException.ThrowIfNull(script);
        _loop = new AcceptLoop((socket, _) => RunAsync(socket, script), runOnThreadPool: true, receiveBuffer: receiveBuffer);
    }

    public int Port => _loop.EndPoint.Port;

    public ValueTask DisposeAsync() => _loop.DisposeAsync();

    private static async Task RunAsync(Socket socket, Func<Socket, Task> script)
    {
        // Off the accept loop, so a script that blocks does not hold up the next accept.
        await Task.Yield();
        using (socket)
        {
            try
            {
                await script(socket);
            }
            catch (Exception e) when (e is SocketException or TimeoutException or ObjectDisposedException)
            {
            }
        }
    }
}
