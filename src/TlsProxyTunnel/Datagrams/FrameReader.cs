using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Datagrams;

/// <summary>What <see cref="FrameReader.ReadFrameAsync"/> found.</summary>
internal enum FrameRead
{
    /// <summary>A whole frame: <see cref="FrameReader.Current"/> holds its payload.</summary>
    Frame,

    /// <summary>The peer ended its direction between frames.</summary>
    End,

    /// <summary>The peer ended its direction inside a frame (or the session id).</summary>
    Truncated,

    /// <summary>The frame announced more bytes than a datagram may carry.</summary>
    TooLong,
}

/// <summary>
/// Reads uotp frames from a leg into a pooled buffer, as many as one read brings, without allocating per frame. The
/// buffer is small (most datagrams are below an MTU); a frame that does not fit borrows a larger one from the pool
/// for as long as it takes.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    internal const int BufferSize = 16 * 1024;

    private byte[] _buffer;
    private byte[]? _large;
    private int _start;
    private int _end;

    /// <param name="prefix">Bytes already read from the leg (a stage's leftovers): they come first.</param>
    public FrameReader(ReadOnlySpan<byte> prefix = default)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(BufferSize, prefix.Length));
        prefix.CopyTo(_buffer);
        _end = prefix.Length;
    }

    /// <summary>The last frame's payload; valid until the next read.</summary>
    public ReadOnlyMemory<byte> Current { get; private set; }

    /// <summary>Bytes read from the leg so far (headers included).</summary>
    public long BytesRead { get; private set; }

    /// <summary>Reads exactly <paramref name="destination"/>'s length (the session id); false when the leg ended first.</summary>
    public async ValueTask<bool> ReadExactAsync(IConnectionLeg leg, Memory<byte> destination, CancellationToken ct)
    {
        while (_end - _start < destination.Length)
        {
            if (!await FillAsync(leg, ct))
            {
                return false;
            }
        }

        _buffer.AsMemory(_start, destination.Length).CopyTo(destination);
        _start += destination.Length;
        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<FrameRead> ReadFrameAsync(IConnectionLeg leg, int maxPayload, CancellationToken ct)
    {
        ReturnLarge();
        while (_end - _start < UotpFrames.HeaderLength)
        {
            if (!await FillAsync(leg, ct))
            {
                return _end == _start ? FrameRead.End : FrameRead.Truncated;
            }
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(_start));
        if (length > maxPayload)
        {
            return FrameRead.TooLong;
        }

        var needed = UotpFrames.HeaderLength + length;
        if (needed > _buffer.Length)
        {
            return await ReadLargeAsync(leg, length, ct);
        }

        while (_end - _start < needed)
        {
            if (!await FillAsync(leg, ct))
            {
                return FrameRead.Truncated;
            }
        }

        Current = _buffer.AsMemory(_start + UotpFrames.HeaderLength, length);
        _start += needed;
        return FrameRead.Frame;
    }

    private async ValueTask<FrameRead> ReadLargeAsync(IConnectionLeg leg, int length, CancellationToken ct)
    {
        var large = _large = ArrayPool<byte>.Shared.Rent(length);
        var have = _end - _start - UotpFrames.HeaderLength;
        _buffer.AsSpan(_start + UotpFrames.HeaderLength, have).CopyTo(large);
        _start = _end = 0;
        while (have < length)
        {
            var read = await leg.ReadAsync(large.AsMemory(have, length - have), ct);
            if (read == 0)
            {
                return FrameRead.Truncated;
            }

            BytesRead += read;
            have += read;
        }

        Current = large.AsMemory(0, length);
        return FrameRead.Frame;
    }

    /// <summary>Reads what the leg has into the free end of the buffer, moving unread bytes to its start first.</summary>
    private async ValueTask<bool> FillAsync(IConnectionLeg leg, CancellationToken ct)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_start > 0 && _buffer.Length - _end < UotpFrames.HeaderLength + 1500)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        var read = await leg.ReadAsync(_buffer.AsMemory(_end), ct);
        if (read == 0)
        {
            return false;
        }

        BytesRead += read;
        _end += read;
        return true;
    }

    private void ReturnLarge()
    {
        if (_large is { } large)
        {
            _large = null;
            ArrayPool<byte>.Shared.Return(large);
        }
    }

    public void Dispose()
    {
        ReturnLarge();
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
