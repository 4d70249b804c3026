using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Engine.Linux;

namespace TlsProxyTunnel.Tests.Engine;

/// <summary>
/// The Linux engine's own tests count process-wide things (descriptors, registrations on the shared loops, pooled
/// buffers rented on a loop's thread): they run after the parallel tests, one class at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LinuxEngineAlone
{
    public const string Name = "Linux engine, run alone";
}

/// <summary>Real loopback sockets put on the process's Linux engine.</summary>
internal static class EngineTestKit
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>The shared engine; the tests that use it are skipped where it cannot run.</summary>
    public static LinuxEngine TheEngine => LinuxEngine.Shared ?? throw new InvalidOperationException($"no Linux engine: {LinuxEngine.StartError}");

    /// <summary>Every loop of the engine (it hands them out in turn).</summary>
    public static EpollLoop[] Loops()
    {
        var engine = TheEngine;
        return [.. Enumerable.Range(0, engine.LoopCount).Select(_ => engine.NextLoop()).Distinct()];
    }

    /// <summary>Sockets registered on all loops now.</summary>
    public static int Registered() => Loops().Sum(l => l.Registered);

    /// <summary>
    /// Waits until <paramref name="loop"/> has run a posted no-op twice: every event that was ready before the call has
    /// then been handled (a batch in progress ends before posted work runs; the second round covers one that began
    /// just before). The signal that a relay has done all it will do with what it was given.
    /// </summary>
    public static async Task LoopDrainedAsync(EpollLoop loop)
    {
        for (var round = 0; round < 2; round++)
        {
            var ran = new Signal();
            loop.Post(ran);
            await ran.Ran.Task.WaitAsync(Patience);
        }
    }

    private sealed class Signal : ILoopWork
    {
        public TaskCompletionSource Ran { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void RunOnLoop() => Ran.TrySetResult();
    }

    /// <summary>Open socket descriptors of this process (the runtime maps assemblies lazily: files come and go).</summary>
    public static int OpenDescriptors() => DescriptorTargets().Values.Count(t => t.StartsWith("socket:", StringComparison.Ordinal));

    /// <summary>What each open descriptor is (for a failure message).</summary>
    public static Dictionary<string, string> DescriptorTargets()
    {
        var targets = new Dictionary<string, string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                targets[Path.GetFileName(fd)] = new FileInfo(fd).LinkTarget ?? "?";
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }

        return targets;
    }

    /// <summary>A connected pair: <c>Peer</c> stays on System.Net.Sockets, <c>Local</c> (the end accept returned) goes on the engine.</summary>
    public static async Task<(Socket Peer, Socket Local)> PairAsync(Socket? listener = null)
    {
        using var own = listener is null ? Listen() : null;
        var server = listener ?? own!;
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = server.AcceptAsync();
        await peer.ConnectAsync(server.LocalEndPoint!).WaitAsync(Patience);
        var local = await accept.WaitAsync(Patience);
        local.NoDelay = true;
        return (peer, local);
    }

    public static Socket Listen(int backlog = 512)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(backlog);
        return listener;
    }

    public static EngineSocket Attach(Socket socket, EpollLoop loop) =>
        EngineSocket.TryAttach(socket, loop) ?? throw new InvalidOperationException("the kernel refused the socket");

    /// <summary>Leaves the engine and closes, as <c>ClientConnection.Close</c> does.</summary>
    public static void Close(EngineSocket socket)
    {
        socket.Release();
        Dispose(socket.Socket);
    }

    /// <summary>
    /// Closes a socket the engine has had, bounded: Socket.Dispose spins until every reference to its handle is
    /// released, so one the engine still holds would hang the test instead of failing it.
    /// </summary>
    public static void Dispose(Socket socket)
    {
        if (!Task.Run(socket.Dispose).Wait(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException("closing the socket spins: the engine still holds its handle");
        }
    }

    /// <summary>Sends <paramref name="data"/> then half-closes.</summary>
    public static async Task SendAllThenFinAsync(Socket socket, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None);
            data = data[sent..];
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Reads to EOF.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        var output = new MemoryStream();
        var buffer = new byte[256 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (read == 0)
            {
                return output.ToArray();
            }

            output.Write(buffer, 0, read);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var done = 0;
        while (done < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None).AsTask().WaitAsync(Patience);
            if (read == 0)
            {
                throw new EndOfStreamException($"EOF after {done} of {count} bytes");
            }

            done += read;
        }

        return buffer;
    }

    /// <summary>True when the peer of <paramref name="socket"/> reset the connection (as against a FIN or nothing).</summary>
    public static async Task<SocketError?> EndSeenAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Patience) > 0)
            {
            }

            return null;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }

    /// <summary>
    /// Polls until <paramref name="condition"/> holds; for kernel and loop state that no event announces. False
    /// when it did not within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Patience);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }
}

/// <summary>
/// Pooled buffers rented and not yet returned by the engine's loop threads, seen through the shared pool's own
/// event source (events are raised on the renting thread, so a loop's are told apart by the thread's name).
/// </summary>
internal sealed class LoopBufferWatch : EventListener
{
    private readonly ConcurrentDictionary<int, int> _held = new();
    private readonly bool _ready;

    public LoopBufferWatch() => _ready = true;

    /// <summary>Buffers a loop thread holds now (rented there, not returned anywhere since).</summary>
    public int Held => _held.Count;

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "System.Buffers.ArrayPoolEventSource")
        {
            EnableEvents(eventSource, EventLevel.Verbose);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_ready || e.Payload is null || e.Payload.Count < 2 || e.Payload[0] is not int id || e.Payload[1] is not int size || size < 64 * 1024)
        {
            return;
        }

        if (e.EventName == "BufferRented" && Thread.CurrentThread.Name?.StartsWith("tpt-epoll-", StringComparison.Ordinal) == true)
        {
            _held[id] = size;
        }
        else if (e.EventName == "BufferReturned")
        {
            _held.TryRemove(id, out _);
        }
    }
}
