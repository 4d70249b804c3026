using System.Net.Sockets;

namespace TlsProxyTunnel.Datagrams;

/// <summary>The socket buffers of every UDP socket tpt receives on: a listener, and each session's upstream socket.</summary>
internal static class UdpBuffers
{
    /// <summary>
    /// What is asked for; the kernel caps it at net.core.rmem_max / wmem_max (Linux's default cap is 208 KiB, so
    /// raising those sysctls is what lets a busy tunnel use this).
    /// </summary>
    public const int Size = 4 * 1024 * 1024;

    /// <summary>
    /// Bursts arrive faster than one loop hands them on, and a reply socket whose reader is delayed a few
    /// milliseconds (a garbage collection, a busy core) overflows a default-sized queue at tens of thousands of
    /// datagrams a second: a deeper queue loses fewer. Measured on the uotp path at 60 000 datagrams/s: about half
    /// the loss was the server role's session socket overflowing its default queue.
    /// </summary>
    public static void Deepen(Socket socket)
    {
        socket.ReceiveBufferSize = Size;
        socket.SendBufferSize = Size;
    }
}
