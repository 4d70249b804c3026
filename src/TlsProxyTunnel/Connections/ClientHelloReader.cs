using System.Buffers;
using System.Net.Sockets;
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

    /// <summary>The normalised host name when <see cref="Outcome"/> is <see cref="HelloReadOutcome.Sni"/>.</summary>
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

    public static async ValueTask<HelloReadResult> ReadAsync(Socket client, int maxBytes, TimeSpan timeout)
    {
        var result = default(HelloReadResult);
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            // Wait for readability before renting, so a silent client holds no buffer.
            await client.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, deadline.Token);
            result.Buffer = ArrayPool<byte>.Shared.Rent(Math.Min(InitialBufferSize, maxBytes));
            while (true)
            {
                // The pool may hand out more than asked for; never read past the cap.
                var capacity = Math.Min(result.Buffer!.Length, maxBytes);
                if (result.Length == capacity)
                {
                    Grow(ref result, maxBytes);
                    capacity = Math.Min(result.Buffer!.Length, maxBytes);
                }

                var read = await client.ReceiveAsync(result.Buffer!.AsMemory(result.Length, capacity - result.Length), SocketFlags.None, deadline.Token);
                if (read == 0)
                {
                    // EOF: decide on what we have; an incomplete hello from a client that has gone cannot be routed.
                    result.Outcome = Classify(ref result, maxBytes, eof: true);
                    return result;
                }

                result.Length += read;
                var outcome = Classify(ref result, maxBytes, eof: false);
                if (outcome != HelloReadOutcome.NotRead)
                {
                    result.Outcome = outcome;
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
    }

    /// <summary>Returns <see cref="HelloReadOutcome.NotRead"/> when more bytes are needed.</summary>
    private static HelloReadOutcome Classify(ref HelloReadResult result, int maxBytes, bool eof)
    {
        Span<byte> hostName = stackalloc byte[256];
        var outcome = ClientHelloParser.Parse(result.Buffer.AsSpan(0, result.Length), hostName, out var hostNameLength, maxBytes);
        switch (outcome)
        {
            case ClientHelloOutcome.NeedMoreData:
                if (eof)
                {
                    return HelloReadOutcome.ClientClosed;
                }

                return result.Length >= maxBytes ? HelloReadOutcome.TooLarge : HelloReadOutcome.NotRead;
            case ClientHelloOutcome.SniFound:
                Span<char> name = stackalloc char[256];
                if (HostName.TryNormalize(hostName[..hostNameLength], name, out var nameLength))
                {
                    result.Sni = new string(name[..nameLength]);
                    return HelloReadOutcome.Sni;
                }

                return HelloReadOutcome.InvalidSni;
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

    private static void Grow(ref HelloReadResult result, int maxBytes)
    {
        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(result.Buffer!.Length * 2, maxBytes));
        result.Buffer.AsSpan(0, result.Length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(result.Buffer);
        result.Buffer = larger;
    }
}
