using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>A plain TCP client for driving the router byte by byte.</summary>
public sealed class RawClient : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private RawClient(Socket socket)
    {
        Socket = socket;
    }

    public Socket Socket { get; }

    /// <summary>Takes over a socket the caller set up (buffer sizes, options) and connected.</summary>
    public static RawClient Wrap(Socket socket) => new(socket);

    public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).WaitAsync(Timeout);
        return new RawClient(socket);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> data) => await Socket.SendAsync(data, SocketFlags.None).AsTask().WaitAsync(Timeout);

    /// <summary>
    /// One send per chunk (with TCP_NODELAY each leaves as its own segment), the next only once the peer has read
    /// the previous (nothing left in its receive queue), so each reaches it in a read of its own. Returns how many
    /// chunks, of all but the last, the peer took alone; a peer that stops reading (it has decided) makes it less.
    /// The wait for each read is the full <see cref="Timeout"/>: callers assert the count, so a read that a loaded
    /// machine delays must not pass for one that never came.
    /// </summary>
    public async Task<int> SendChunkedAsync(ReadOnlyMemory<byte> data, int chunkSize)
    {
        var alone = 0;
        for (var offset = 0; offset < data.Length; offset += chunkSize)
        {
            var length = Math.Min(chunkSize, data.Length - offset);
            await SendAsync(data.Slice(offset, length));
            if (offset + length < data.Length && await PeerReceiveQueue.WaitUntilReadAsync(Socket, Timeout))
            {
                alone++;
            }
        }

        return alone;
    }

    public void ShutdownSend() => Socket.Shutdown(SocketShutdown.Send);

    /// <summary>Reads the backend's banner line <c>BKND:tag</c> and returns the tag.</summary>
    public async Task<string> ReadBannerAsync()
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            var read = await Socket.ReceiveAsync(one.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Timeout);
            if (read == 0)
            {
                throw new IOException($"connection closed before a banner; got '{line}'");
            }

            if (one[0] == '\n')
            {
                var text = line.ToString().TrimEnd('\r');
                Assert.StartsWith("BKND:", text, StringComparison.Ordinal);
                return text["BKND:".Length..];
            }

            line.Append((char)one[0]);
        }
    }

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        var buffer = new byte[count];
        var got = 0;
        while (got < count)
        {
            var read = await Socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(Timeout);
            if (read == 0)
            {
                throw new IOException($"EOF after {got} of {count} bytes");
            }

            got += read;
        }

        return buffer;
    }

    /// <summary>Reads until EOF; returns the bytes and whether the end was a clean FIN (false for a reset).</summary>
    public async Task<(byte[] Data, bool CleanEof)> ReadToEndAsync(TimeSpan? timeout = null)
    {
        var data = new MemoryStream();
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var read = await Socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(timeout ?? Timeout);
                if (read == 0)
                {
                    return (data.ToArray(), true);
                }

                data.Write(buffer, 0, read);
            }
        }
        catch (SocketException)
        {
            return (data.ToArray(), false);
        }
    }

    public void Dispose() => Socket.Dispose();
}
