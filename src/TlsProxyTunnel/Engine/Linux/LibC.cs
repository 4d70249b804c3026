using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TlsProxyTunnel.Engine.Linux;

/// <summary>
/// The libc calls the Linux engine makes, and their constants. Values are the generic Linux ABI, the same on
/// x86-64 and arm64 (the only architectures <see cref="LinuxEngine.IsSupported"/> admits).
/// </summary>
internal static unsafe partial class LibC
{
    private const string Library = "libc";

    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int EINVAL = 22;
    public const int EINPROGRESS = 115;

    public const int F_SETFL = 4;
    public const int O_NONBLOCK = 0x800;

    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 0x1;
    public const uint EPOLLOUT = 0x4;
    public const uint EPOLLERR = 0x8;
    public const uint EPOLLHUP = 0x10;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;

    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;

    public const int MSG_PEEK = 0x2;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;

    public const int O_CLOEXEC = 0x80000;
    public const int F_SETPIPE_SZ = 1031;
    public const uint SPLICE_F_MOVE = 1;
    public const uint SPLICE_F_NONBLOCK = 2;

    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int SO_LINGER = 13;

    /// <summary>x86-64 packs struct epoll_event (12 bytes); arm64 aligns it (16 bytes, data at offset 8).</summary>
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    public static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport(Library, EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport(Library, EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, byte* ev);

    [LibraryImport(Library, EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport(Library, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport(Library, EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Library, EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Library, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint length);

    [LibraryImport(Library, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint length);

    [LibraryImport(Library, EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport(Library, EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, int addressLength);

    [LibraryImport(Library, EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, byte* value, int* length);

    [LibraryImport(Library, EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, byte* value, int length);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Library, EntryPoint = "pipe2", SetLastError = true)]
    public static partial int Pipe2(int* fds, int flags);

    [LibraryImport(Library, EntryPoint = "splice", SetLastError = true)]
    public static partial nint Splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

    [LibraryImport(Library, EntryPoint = "getsockname", SetLastError = true)]
    public static partial int GetSockName(int fd, byte* address, int* addressLength);

    /// <summary>The socket's own address (getsockname); null when the call fails or the family is not IP.</summary>
    public static IPEndPoint? LocalEndPoint(int fd)
    {
        var buffer = stackalloc byte[28];
        var length = 28;
        if (GetSockName(fd, buffer, &length) != 0)
        {
            return null;
        }

        var sockaddr = new ReadOnlySpan<byte>(buffer, length);
        var port = (sockaddr[2] << 8) | sockaddr[3];
        return BitConverter.ToUInt16(sockaddr) switch
        {
            2 when length >= 16 => new IPEndPoint(new IPAddress(sockaddr.Slice(4, 4)), port),
            10 when length >= 28 => new IPEndPoint(new IPAddress(sockaddr.Slice(8, 16), BitConverter.ToUInt32(sockaddr.Slice(24, 4))), port),
            _ => null,
        };
    }

    /// <summary>Writes the sockaddr for <paramref name="endPoint"/> into <paramref name="buffer"/> (at least 28 bytes); returns its length.</summary>
    public static int WriteSockAddr(IPEndPoint endPoint, Span<byte> buffer)
    {
        buffer[..28].Clear();
        var port = (ushort)endPoint.Port;
        buffer[2] = (byte)(port >> 8);
        buffer[3] = (byte)port;
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            // struct sockaddr_in: family (host order), port (network order), address.
            BitConverter.TryWriteBytes(buffer, (ushort)2);
            endPoint.Address.TryWriteBytes(buffer.Slice(4, 4), out _);
            return 16;
        }

        // struct sockaddr_in6: family, port, flowinfo, address, scope id.
        BitConverter.TryWriteBytes(buffer, (ushort)10);
        endPoint.Address.TryWriteBytes(buffer.Slice(8, 16), out _);
        BitConverter.TryWriteBytes(buffer.Slice(24, 4), (uint)endPoint.Address.ScopeId);
        return 28;
    }

    /// <summary>The errno of the last call, as the <see cref="SocketError"/> System.Net.Sockets would report.</summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        104 => SocketError.ConnectionReset,     // ECONNRESET
        32 => SocketError.Shutdown,             // EPIPE
        111 => SocketError.ConnectionRefused,   // ECONNREFUSED
        110 => SocketError.TimedOut,            // ETIMEDOUT
        113 => SocketError.HostUnreachable,     // EHOSTUNREACH
        101 => SocketError.NetworkUnreachable,  // ENETUNREACH
        103 => SocketError.ConnectionAborted,   // ECONNABORTED
        107 => SocketError.NotConnected,        // ENOTCONN
        9 => SocketError.OperationAborted,      // EBADF
        11 => SocketError.WouldBlock,           // EAGAIN
        115 => SocketError.InProgress,          // EINPROGRESS
        24 or 23 => SocketError.TooManyOpenSockets,
        _ => SocketError.SocketError,
    };
}
