using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using TlsProxyTunnel.Datagrams;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Benchmarks;

/// <summary>
/// The uotp framing path per datagram: framing one into a pooled buffer (what a session queues), and reading frames
/// back out of a stream (what every connection does), here from a leg that hands out 64 KiB of back-to-back frames
/// per read, as a busy TLS connection does. Both must allocate nothing per datagram.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class UotpFramingBenchmarks : IDisposable
{
    private const int FramesPerOp = 1000;
    private byte[] _payload = [];
    private MemoryLeg _leg = null!;
    private FrameReader _reader = null!;

    [Params(64, 1200, 1400)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[Size];
        Random.Shared.NextBytes(_payload);
        var stream = new byte[FramesPerOp * (2 + Size)];
        for (var i = 0; i < FramesPerOp; i++)
        {
            var frame = OutboundFrame.Create(_payload);
            frame.Frame.Span.CopyTo(stream.AsSpan(i * (2 + Size)));
            frame.Return();
        }

        _leg = new MemoryLeg(stream);
        _reader = new FrameReader();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _reader.Dispose();
        _leg.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>1000 datagrams framed into pooled buffers and returned.</summary>
    [Benchmark(OperationsPerInvoke = FramesPerOp)]
    public int Frame()
    {
        var total = 0;
        for (var i = 0; i < FramesPerOp; i++)
        {
            var frame = OutboundFrame.Create(_payload);
            total += frame.Frame.Length;
            frame.Return();
        }

        return total;
    }

    /// <summary>1000 frames read back out of a stream.</summary>
    [Benchmark(OperationsPerInvoke = FramesPerOp)]
    public async Task<int> Read()
    {
        _leg.Rewind();
        var total = 0;
        for (var i = 0; i < FramesPerOp; i++)
        {
            if (await _reader.ReadFrameAsync(_leg, UotpFrames.MaxIpv4Datagram, CancellationToken.None) != FrameRead.Frame)
            {
                throw new InvalidOperationException("the stream ended early");
            }

            total += _reader.Current.Length;
        }

        return total;
    }

    /// <summary>A leg over bytes in memory: every read completes at once with up to 64 KiB.</summary>
    private sealed class MemoryLeg(byte[] data) : IConnectionLeg
    {
        private int _position;

        public Socket Socket => throw new NotSupportedException();

        public void Rewind() => _position = 0;

        public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            var count = Math.Min(Math.Min(buffer.Length, 64 * 1024), data.Length - _position);
            data.AsSpan(_position, count).CopyTo(buffer.Span);
            _position += count;
            return ValueTask.FromResult(count);
        }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, SendStallWatch? stall = null, int slot = 0) => ValueTask.CompletedTask;

        public ValueTask ShutdownSendAsync() => ValueTask.CompletedTask;

        public void NoteReadFailure(Exception error)
        {
        }

        public void Dispose()
        {
        }
    }
}
