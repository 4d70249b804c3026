using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// How many bytes the other end of a loopback connection (tpt, a child process) has received and not yet read,
/// from the rx_queue column of /proc/net/tcp{,6}: the kernel's view, so a test can tell that tpt has read one
/// segment before it sends the next.
/// </summary>
internal static class PeerReceiveQueue
{
    /// <summary>Bytes queued at the peer of <paramref name="socket"/>; null when there is no such row (the peer closed).</summary>
    public static long? Of(Socket socket)
    {
        var local = (IPEndPoint)socket.RemoteEndPoint!;
        var remote = (IPEndPoint)socket.LocalEndPoint!;
        var file = local.AddressFamily == AddressFamily.InterNetworkV6 ? "/proc/net/tcp6" : "/proc/net/tcp";
        var wantLocal = Format(local);
        var wantRemote = Format(remote);
        foreach (var line in File.ReadLines(file).Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 4 && fields[1] == wantLocal && fields[2] == wantRemote)
            {
                return long.Parse(fields[4].AsSpan(fields[4].IndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    /// <summary>Waits until the peer has read everything sent so far; false if it did not within <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitUntilReadAsync(Socket socket, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        for (var polls = 0; Of(socket) is > 0; polls++)
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            // tpt usually reads within microseconds: yield a few times before falling back to 1 ms waits.
            if (polls < 20)
            {
                Thread.Yield();
            }
            else
            {
                await Task.Delay(1);
            }
        }

        return true;
    }

    // The kernel prints each 32-bit word of the address in host order, then the port in hex.
    private static string Format(IPEndPoint endPoint)
    {
        var bytes = endPoint.Address.GetAddressBytes();
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < bytes.Length; i += 4)
        {
            text.Append(BitConverter.ToUInt32(bytes, i).ToString("X8", CultureInfo.InvariantCulture));
        }

        return text.Append(':').Append(endPoint.Port.ToString("X4", CultureInfo.InvariantCulture)).ToString();
    }
}
