using System.Buffers;
using System.Net.Sockets;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Routing;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Connections;

/// <summary>The bytes read while looking for the ClientHello; they must reach the upstream first, unchanged.</summary>
internal struct HelloReadResult
{
    public HelloReadOutcome Outcome;

    /// <summary>Rented from <see cref="ArrayPool{T}.Shared"/>; the caller returns it. Null when nothing was read.</summary>
    public byte[]? Buffer;

    public int Length;

    /// <summary>
    /// The normalised host name when <see cref="Outcome"/> is <see cref="HelloReadOutcome.Sni"/>: of the names the
    /// client sent, the first that matches a route, else the first valid one.
    /// </summary>
    public string? Sni;

}

/// <summary>
/// Reads from the client until <see cref="ClientHelloParser"/> can decide, within a byte cap and a deadline.
/// Nothing is consumed on the client's behalf: every byte read is handed back for replay.
/// </summary>
internal static class ClientHelloReader
{
    // Most hellos (even post-quantum ones, ~1.8 KB) fit; larger ones grow the buffer up to the cap.
    private const int InitialBufferSize = 4096;

    // Server names considered per hello: at least 8 of the longest, far more than any client sends. A hostile
    // hello with more is still parsed whole; the names past this are not tried.
    private const int NameListBytes = 8 * ClientHelloParser.MinNameListLength;

    /// <param name="router">The routes the names are tried against, in the client's order; null routes nothing
    /// (the first valid name is then the SNI).</param>
    /// <param name="prefix">Bytes already read from the client (past a PROXY header), at the start of a pooled
    /// buffer the reader takes over and goes on filling; null when none.</param>
    public static ValueTask<HelloReadResult> ReadAsync<TRoute>(Socket client, int maxBytes, TimeSpan timeout, SniRouter<TRoute>? router, byte[]? prefix = null, int prefixLength = 0)
        where TRoute : class =>
        ReadAsync(new SocketReceiver(client), maxBytes, timeout, router, prefix, prefixLength);

    /// <summary>The same, from a socket the Linux engine drives.</summary>
    public static ValueTask<HelloReadResult> ReadAsync<TRoute>(EngineSocket client, int maxBytes, TimeSpan timeout, SniRouter<TRoute>? router, byte[]? prefix = null, int prefixLength = 0)
        where TRoute : class =>
        ReadAsync(new EngineReceiver(client), maxBytes, timeout, router, prefix, prefixLength);

    // Generic over a struct: one specialised copy per transport, no interface call or box per read.
    // Pooled: one per connection, and a burst of clients would otherwise leave one box each as garbage.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<HelloReadResult> ReadAsync<TReceiver, TRoute>(TReceiver client, int maxBytes, TimeSpan timeout, SniRouter<TRoute>? router, byte[]? prefix, int prefixLength)
        where TReceiver : struct, IReceiver
        where TRoute : class
    {
        var result = default(HelloReadResult);
        // What a PROXY header read before it left of client_hello_timeout may be nothing: then it is due at once.
        var deadline = Deadline.Start(timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero);
        try
        {
            if (prefix is not null)
            {
                result.Buffer = prefix;
                result.Length = prefixLength;
                var early = Classify(ref result, maxBytes, router, eof: false);
                if (early != HelloReadOutcome.NotRead)
                {
                    result.Outcome = early;
                    return result;
                }
            }
            else
            {
                // Wait for readability before renting, so a silent client holds no buffer.
                await client.ReceiveAsync(Memory<byte>.Empty, deadline.Token);
                result.Buffer = ArrayPool<byte>.Shared.Rent(Math.Min(InitialBufferSize, maxBytes));
            }

            while (true)
            {
                // The pool may hand out more than asked for; never read past the cap.
                var capacity = Math.Min(result.Buffer!.Length, maxBytes);
                if (result.Length == capacity)
                {
                    Grow(ref result, maxBytes);
                    capacity = Math.Min(result.Buffer!.Length, maxBytes);
                }

                var read = await client.ReceiveAsync(result.Buffer!.AsMemory(result.Length, capacity - result.Length), deadline.Token);
                if (read == 0)
                {
                    // EOF: decide on what we have; an incomplete hello from a client that has gone cannot be routed.
                    result.Outcome = Classify(ref result, maxBytes, router, eof: true);
                    return result;
                }

                result.Length += read;
                var outcome = Classify(ref result, maxBytes, router, eof: false);
                if (outcome != HelloReadOutcome.NotRead)
                {
                    result.Outcome = outcome;
                    Shrink(ref result);
                    return result;
                }
            }
        }
        catch (OperationCanceledException)
        {
            result.Outcome = result.Length == 0 ? HelloReadOutcome.Silent : HelloReadOutcome.Stalled;
            return result;
        }
        catch (SocketException)
        {
            result.Outcome = HelloReadOutcome.ClientClosed;
            return result;
        }
        catch (ObjectDisposedException)
        {
            result.Outcome = HelloReadOutcome.ClientClosed;
            return result;
        }
        finally
        {
            deadline.End();
        }
    }

    /// <summary>Returns <see cref="HelloReadOutcome.NotRead"/> when more bytes are needed.</summary>
    private static HelloReadOutcome Classify<TRoute>(ref HelloReadResult result, int maxBytes, SniRouter<TRoute>? router, bool eof)
        where TRoute : class
    {
        Span<byte> names = stackalloc byte[NameListBytes];
        var outcome = ClientHelloParser.ParseServerNames(result.Buffer.AsSpan(0, result.Length), names, out var namesLength, out _, maxBytes);
        switch (outcome)
        {
            case ClientHelloOutcome.NeedMoreData:
                if (eof)
                {
                    return HelloReadOutcome.ClientClosed;
                }

                return result.Length >= maxBytes ? HelloReadOutcome.TooLarge : HelloReadOutcome.NotRead;
            case ClientHelloOutcome.SniFound:
                var chosen = ChooseName(names[..namesLength], router, out result.Sni);
                return chosen;
            case ClientHelloOutcome.NoSni:
                return HelloReadOutcome.NoSni;
            case ClientHelloOutcome.NotTls:
                return HelloReadOutcome.NotTls;
            case ClientHelloOutcome.Malformed:
                return HelloReadOutcome.Malformed;
            default:
                return HelloReadOutcome.TooLarge;
        }
    }

    /// <summary>
    /// Tries the client's names in its order, as tls-proxy-tunnel does: the first valid name that matches a route
    /// is the SNI (and the CONNECT target of <c>use_sni_as_target</c>); when none matches, the first valid name.
    /// </summary>
    /// <returns><see cref="HelloReadOutcome.Sni"/>, or <see cref="HelloReadOutcome.InvalidSni"/> when no name is a valid host name.</returns>
    internal static HelloReadOutcome ChooseName<TRoute>(ReadOnlySpan<byte> nameList, SniRouter<TRoute>? router, out string? sni)
        where TRoute : class
    {
        sni = null;
        Span<char> name = stackalloc char[ClientHelloParser.MaxHostNameLength + 1];
        foreach (var raw in new ServerNameList(nameList))
        {
            if (!HostName.TryNormalize(raw, name, out var length))
            {
                continue;
            }

            if (router?.Match(name[..length]) is not null)
            {
                sni = new string(name[..length]);
                return HelloReadOutcome.Sni;
            }

            sni ??= new string(name[..length]);
            if (router is null || router.Count == 0)
            {
                // Nothing to match: the first valid name is the answer.
                break;
            }
        }

        return sni is null ? HelloReadOutcome.InvalidSni : HelloReadOutcome.Sni;
    }

    /// <summary>
    /// Moves a hello that fits a smaller pooled buffer into one, and gives the 4 KiB read buffer back at once, on this
    /// thread. The bytes are held until the upstream is connected; a burst of clients would otherwise hold a 4 KiB
    /// buffer each, more than the shared pool keeps, and each miss is 4 KiB of garbage (measured: about 3 KiB of
    /// resident memory per connection in the idle benchmark).
    /// </summary>
    private static void Shrink(ref HelloReadResult result)
    {
        if (result.Buffer is not { } large || result.Length > large.Length / 4)
        {
            return;
        }

        var small = ArrayPool<byte>.Shared.Rent(result.Length);
        large.AsSpan(0, result.Length).CopyTo(small);
        ArrayPool<byte>.Shared.Return(large);
        result.Buffer = small;
    }

    private static void Grow(ref HelloReadResult result, int maxBytes)
    {
        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(result.Buffer!.Length * 2, maxBytes));
        result.Buffer.AsSpan(0, result.Length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(result.Buffer);
        result.Buffer = larger;
    }
}

/// <summary>Where the hello is read from.</summary>
internal interface IReceiver
{
    /// <summary>As <see cref="Socket.ReceiveAsync(Memory{byte}, SocketFlags, CancellationToken)"/>: an empty buffer waits for data.</summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct);
}

internal readonly struct SocketReceiver(Socket socket) : IReceiver
{
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct) => socket.ReceiveAsync(buffer, SocketFlags.None, ct);
}

internal readonly struct EngineReceiver(EngineSocket socket) : IReceiver
{
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct) => socket.ReceiveAsync(buffer, ct);
}
