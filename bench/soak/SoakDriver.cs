using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.Soak;

/// <summary>How hard and how long to soak.</summary>
public sealed record SoakOptions(int Hold, int ChurnWorkers, TimeSpan Duration, int MaxPayload, int Seed = 20261123);

/// <summary>What a soak saw. Every byte sent through the router came back and was compared.</summary>
public sealed class SoakResult
{
    private long _churned;
    private long _bytes;
    private long _errors;
    private long _halfCloseFirst;

    public int Held { get; internal set; }

    public int HeldVerified { get; internal set; }

    public long Churned => Interlocked.Read(ref _churned);

    public long HalfCloseFirst => Interlocked.Read(ref _halfCloseFirst);

    /// <summary>Bytes sent and received back identical (both directions counted once).</summary>
    public long BytesVerified => Interlocked.Read(ref _bytes);

    public long Errors => Interlocked.Read(ref _errors);

    public ConcurrentQueue<string> ErrorSamples { get; } = new();

    public TimeSpan Elapsed { get; internal set; }

    public override string ToString() =>
        $"held={Held} held_verified={HeldVerified} churned={Churned} half_close_first={HalfCloseFirst} bytes_verified={BytesVerified} errors={Errors} elapsed_s={Elapsed.TotalSeconds:0.0}";

    internal void Churn(long bytes, bool halfCloseFirst)
    {
        Interlocked.Increment(ref _churned);
        Interlocked.Add(ref _bytes, bytes);
        if (halfCloseFirst)
        {
            Interlocked.Increment(ref _halfCloseFirst);
        }
    }

    internal void Verified(long bytes) => Interlocked.Add(ref _bytes, bytes);

    internal void Error(string what)
    {
        if (Interlocked.Increment(ref _errors) <= 20)
        {
            ErrorSamples.Enqueue(what);
        }
    }
}

/// <summary>
/// Holds <see cref="SoakOptions.Hold"/> routed connections open while workers churn new ones with mixed payload
/// sizes and half-closes, through an echo backend; every byte is compared with what was sent.
/// </summary>
public static class SoakDriver
{
    private static readonly TimeSpan IoBound = TimeSpan.FromSeconds(60);

    public static async Task<SoakResult> RunAsync(IPEndPoint router, byte[] hello, SoakOptions options, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(hello);
        ArgumentNullException.ThrowIfNull(options);
        var result = new SoakResult();
        var watch = Stopwatch.StartNew();
        var held = new List<Socket>(options.Hold);
        try
        {
            // Open the held connections, each checked with a first exchange.
            using (var gate = new SemaphoreSlim(200))
            {
                var opening = new List<Task<Socket?>>();
                for (var i = 0; i < options.Hold; i++)
                {
                    await gate.WaitAsync();
                    var seed = options.Seed + i;
                    opening.Add(Task.Run(async () =>
                    {
                        try
                        {
                            return await OpenHeldAsync(router, hello, seed, result);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }));
                }

                foreach (var socket in await Task.WhenAll(opening))
                {
                    if (socket is not null)
                    {
                        held.Add(socket);
                    }
                }
            }

            result.Held = held.Count;
            progress?.Invoke($"holding {held.Count} connections; churning for {options.Duration.TotalSeconds:0} s");

            var deadline = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, options.ChurnWorkers).Select(w => Task.Run(async () =>
            {
                var random = new Random(options.Seed ^ (w * 7919));
                while (deadline.Elapsed < options.Duration)
                {
                    await ChurnOnceAsync(router, hello, random, options.MaxPayload, result);
                }
            })).ToList();
            var reporter = Task.Run(async () =>
            {
                while (!Task.WhenAll(workers).IsCompleted)
                {
                    await Task.WhenAny(Task.WhenAll(workers), Task.Delay(TimeSpan.FromSeconds(30)));
                    progress?.Invoke($"t={deadline.Elapsed.TotalSeconds:0}s {result}");
                }
            });
            await Task.WhenAll(workers).WaitAsync(options.Duration + TimeSpan.FromMinutes(2));
            await reporter;

            // The held ones must have survived the churn: one more exchange each, then a clean half-close.
            var verified = 0;
            using (var gate = new SemaphoreSlim(200))
            {
                var closing = held.Select(async (socket, i) =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        if (await CloseHeldAsync(socket, options.Seed + i, result))
                        {
                            Interlocked.Increment(ref verified);
                        }
                    }
                    finally
                    {
                        gate.Release();
                    }
                }).ToList();
                await Task.WhenAll(closing);
            }

            result.HeldVerified = verified;
        }
        finally
        {
            foreach (var socket in held)
            {
                socket.Dispose();
            }
        }

        result.Elapsed = watch.Elapsed;
        return result;
    }

    private static byte[] Payload(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<Socket?> OpenHeldAsync(IPEndPoint router, byte[] hello, int seed, SoakResult result)
    {
        var socket = new Socket(router.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(IoBound);
            await socket.ConnectAsync(router, timeout.Token);
            var first = hello.Concat(Payload(seed, 1024)).ToArray();
            await socket.SendAsync(first, SocketFlags.None, timeout.Token);
            await ExpectAsync(socket, first, timeout.Token);
            result.Verified(first.Length);
            return socket;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            result.Error($"held open: {e.GetType().Name}: {e.Message}");
            socket.Dispose();
            return null;
        }
    }

    private static async Task<bool> CloseHeldAsync(Socket socket, int seed, SoakResult result)
    {
        try
        {
            using var timeout = new CancellationTokenSource(IoBound);
            var last = Payload(~seed, 4096);
            await socket.SendAsync(last, SocketFlags.None, timeout.Token);
            await ExpectAsync(socket, last, timeout.Token);
            socket.Shutdown(SocketShutdown.Send);
            var buffer = new byte[16];
            var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, timeout.Token);
            if (read != 0)
            {
                result.Error("held close: bytes after the echo");
                return false;
            }

            result.Verified(last.Length);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            result.Error($"held close: {e.GetType().Name}: {e.Message}");
            return false;
        }
    }

    private static async Task ChurnOnceAsync(IPEndPoint router, byte[] hello, Random random, int maxPayload, SoakResult result)
    {
        // Sizes: a quarter nothing but the hello, then small, medium and large payloads.
        var size = random.Next(4) switch
        {
            0 => 0,
            1 => random.Next(1, 1024),
            2 => random.Next(1024, 65536),
            _ => random.Next(65536, Math.Max(65537, maxPayload)),
        };
        var halfCloseFirst = random.Next(2) == 0;
        var sent = new byte[hello.Length + size];
        hello.CopyTo(sent, 0);
        random.NextBytes(sent.AsSpan(hello.Length));
        using var socket = new Socket(router.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(IoBound);
            await socket.ConnectAsync(router, timeout.Token);
            var sending = Task.Run(async () =>
            {
                for (var offset = 0; offset < sent.Length;)
                {
                    var chunk = Math.Min(sent.Length - offset, random.Next(1, 3) == 1 ? 1400 : 65536);
                    offset += await socket.SendAsync(sent.AsMemory(offset, chunk), SocketFlags.None, timeout.Token);
                }

                if (halfCloseFirst)
                {
                    socket.Shutdown(SocketShutdown.Send);
                }
            });
            await ExpectAsync(socket, sent, timeout.Token);
            await sending;
            if (!halfCloseFirst)
            {
                // The other order: read everything back first, then half-close.
                socket.Shutdown(SocketShutdown.Send);
            }

            var tail = await socket.ReceiveAsync(new byte[16].AsMemory(), SocketFlags.None, timeout.Token);
            if (tail != 0)
            {
                result.Error("churn: bytes after the echo");
                return;
            }

            result.Churn(sent.Length, halfCloseFirst);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            result.Error($"churn ({sent.Length} bytes, half-close first={halfCloseFirst}): {e.GetType().Name}: {e.Message}");
        }
    }

    private static async Task ExpectAsync(Socket socket, byte[] expected, CancellationToken cancellationToken)
    {
        var buffer = new byte[65536];
        for (var got = 0; got < expected.Length;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(0, Math.Min(buffer.Length, expected.Length - got)), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new IOException($"EOF after {got} of {expected.Length} bytes");
            }

            if (!buffer.AsSpan(0, read).SequenceEqual(expected.AsSpan(got, read)))
            {
                throw new IOException($"byte mismatch within bytes {got}..{got + read} of {expected.Length}");
            }

            got += read;
        }
    }
}

/// <summary>A plain TCP echo backend (no banner) that half-closes when its client does.</summary>
public sealed class EchoBackend : IAsyncDisposable
{
    // Churn opens connections in bursts, hence the deep backlog; the loop stays off any test's synchronization context.
    private readonly AcceptLoop _server = new(EchoAsync, backlog: 8192, runOnThreadPool: true);

    public int Port => _server.EndPoint.Port;

    public long Accepted => _server.Accepted;

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        using (socket)
        {
            var buffer = new byte[65536];
            try
            {
                while (true)
                {
                    var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, cancellationToken);
                    if (read == 0)
                    {
                        socket.Shutdown(SocketShutdown.Send);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
            }
        }
    }
}
