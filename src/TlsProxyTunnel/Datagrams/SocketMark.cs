using System.Net.Sockets;

namespace TlsProxyTunnel.Datagrams;

/// <summary>SO_MARK (uotp's -m): marks a socket's packets so that a policy route (WireGuard's fwmark) lets them out.</summary>
internal static class SocketMark
{
    private const int SolSocket = 1;
    private const int SoMark = 36;

    public static void Apply(Socket socket, uint mark)
    {
        Span<byte> value = stackalloc byte[sizeof(uint)];
        BitConverter.TryWriteBytes(value, mark);
        socket.SetRawSocketOption(SolSocket, SoMark, value);
    }

    /// <summary>Sets the mark on a throwaway socket: null when the process may, else why not (SO_MARK needs CAP_NET_ADMIN).</summary>
    public static string? Probe(uint mark)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "SO_MARK exists on Linux only";
        }

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            Apply(socket, mark);
            return null;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode == SocketError.AccessDenied
                ? "setting SO_MARK needs CAP_NET_ADMIN (run as root or grant the capability)"
                : $"setting SO_MARK failed: {e.SocketErrorCode}";
        }
    }
}
