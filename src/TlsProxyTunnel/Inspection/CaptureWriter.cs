using System.Buffers;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Inspection;

/// <summary>
/// One capture file in prox.py's format, shared by every connection of the servers naming it: one line per relayed
/// chunk, <c>SECONDS.MICROS CLIENT i|o HEX</c>. Relays hand chunks to a bounded queue; one writer task turns them into
/// whole lines and writes each batch with one unbuffered write, so a reader tailing the file sees whole lines, at once.
/// </summary>
/// <remarks>
/// A full queue holds the relay back (back-pressure) rather than dropping chunks: a capture that silently misses
/// bytes is worse than useless to someone debugging a protocol, and the queue only fills when the disk is slower
/// than the traffic. Once writing has failed (disk full, file removed with its directory, permissions), chunks are
/// dropped and counted instead, so a broken capture never stalls or ends traffic; the failure is logged once.
/// </remarks>
internal sealed class CaptureWriter : IDisposable
{
    /// <summary>Chunks queued at most (each up to the relay's 64 KiB): about 16 MiB in the worst case.</summary>
    internal const int QueueCapacity = 256;

    // One write per batch of at most about this much text: large enough to amortise the syscall, small enough that a
    // tail sees lines within a batch's time.
    private const int BatchBytes = 1024 * 1024;

    private readonly Channel<Chunk> _queue = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(QueueCapacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly Lock _order = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly FileStream? _file;
    private readonly Task _writing;
    private long _lastMicros;
    private long _dropped;
    private volatile bool _failed;

    public CaptureWriter(CaptureSettings settings, ILogger logger, TimeProvider? time = null)
    {
        Settings = settings;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        try
        {
            // No FileStream buffer: each batch is one write(2) of whole lines. Readable by others while written.
            _file = new FileStream(settings.Path, settings.Mode == CaptureMode.Append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            Log.CaptureOpened(logger, settings.Display, settings.Mode.ToString().ToLowerInvariant());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            Log.CaptureOpenFailed(logger, settings.Display, e.Message);
            _failed = true;
        }

        _writing = Task.Run(WriteLoopAsync);
    }

    public CaptureSettings Settings { get; }

    /// <summary>Chunks not written because writing had failed (those of the failed write included).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Queues one chunk (copied: the caller's buffer is free when this returns or completes). Completes at once
    /// unless the queue is full; then it waits for room, which is the back-pressure on the relay.
    /// </summary>
    /// <param name="client">The client's address as the line shows it (<see cref="CaptureAddress"/>).</param>
    /// <param name="direction"><c>i</c> (from the client) or <c>o</c> (to the client).</param>
    public ValueTask AddAsync(string client, char direction, ReadOnlySpan<byte> data)
    {
        if (_failed)
        {
            Interlocked.Increment(ref _dropped);
            return ValueTask.CompletedTask;
        }

        var copy = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, 1));
        data.CopyTo(copy);
        var chunk = new Chunk(0, client, direction, copy, data.Length);

        // Stamped and queued under one lock: the file's order is the order of the stamps, so times never go back.
        lock (_order)
        {
            if (_queue.Writer.TryWrite(chunk with { Micros = Stamp() }))
            {
                return ValueTask.CompletedTask;
            }
        }

        return AddSlowAsync(chunk);
    }

    private async ValueTask AddSlowAsync(Chunk chunk)
    {
        while (await _queue.Writer.WaitToWriteAsync().ConfigureAwait(false))
        {
            lock (_order)
            {
                if (_queue.Writer.TryWrite(chunk with { Micros = Stamp() }))
                {
                    return;
                }
            }
        }

        // Closed (a reload dropped this capture, or shutdown): the chunk is not written.
        ArrayPool<byte>.Shared.Return(chunk.Data);
        Interlocked.Increment(ref _dropped);
    }

    private long Stamp()
    {
        var micros = (_time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / 10;
        _lastMicros = Math.Max(micros, _lastMicros);
        return _lastMicros;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new ArrayBufferWriter<byte>(64 * 1024);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.ResetWrittenCount();
            var lines = 0;
            while (batch.WrittenCount < BatchBytes && reader.TryRead(out var chunk))
            {
                if (_failed)
                {
                    Interlocked.Increment(ref _dropped);
                }
                else
                {
                    CaptureLine.Write(batch, chunk.Micros, chunk.Client, chunk.Direction, chunk.Data.AsSpan(0, chunk.Length));
                    lines++;
                }

                ArrayPool<byte>.Shared.Return(chunk.Data);
            }

            if (_failed || batch.WrittenCount == 0)
            {
                continue;
            }

            try
            {
                await _file!.WriteAsync(batch.WrittenMemory).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                _failed = true;
                Interlocked.Add(ref _dropped, lines);
                Log.CaptureWriteFailed(_logger, Settings.Display, e.Message);
            }
        }
    }

    /// <summary>Stops taking chunks, writes those queued, closes the file.</summary>
    public async Task CloseAsync()
    {
        _queue.Writer.TryComplete();
        await _writing.ConfigureAwait(false);
        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }

        if (Dropped > 0)
        {
            Log.CaptureDropped(_logger, Settings.Display, Dropped);
        }
    }

    public void Dispose() => CloseAsync().GetAwaiter().GetResult();

    private readonly record struct Chunk(long Micros, string Client, char Direction, byte[] Data, int Length);
}

/// <summary>prox.py's log line, byte for byte.</summary>
internal static class CaptureLine
{
    /// <summary><c>%f</c> of the time (six decimals), the client, the direction, the chunk in lowercase hex, a newline.</summary>
    public static void Write(IBufferWriter<byte> output, long micros, string client, char direction, ReadOnlySpan<byte> data)
    {
        var length = 24 + client.Length + 4 + (data.Length * 2) + 1;
        var span = output.GetSpan(length);
        var seconds = micros / 1_000_000;
        var fraction = micros % 1_000_000;
        var at = 0;
        seconds.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        at += written;
        span[at++] = (byte)'.';
        fraction.TryFormat(span[at..], out written, "D6", CultureInfo.InvariantCulture);
        at += written;
        span[at++] = (byte)' ';
        at += Encoding.ASCII.GetBytes(client, span[at..]);
        span[at++] = (byte)' ';
        span[at++] = (byte)direction;
        span[at++] = (byte)' ';
        at += HexLower.Encode(data, span[at..]);
        span[at++] = (byte)'\n';
        output.Advance(at);
    }
}

/// <summary>How a capture line names the client: <c>1.2.3.4:5</c>, <c>[::1]:5</c> (a v4-mapped IPv6 address as IPv4).</summary>
internal static class CaptureAddress
{
    public static string Format(System.Net.EndPoint? endPoint) => endPoint switch
    {
        System.Net.IPEndPoint { Address.IsIPv4MappedToIPv6: true } ip => new System.Net.IPEndPoint(ip.Address.MapToIPv4(), ip.Port).ToString(),
        System.Net.IPEndPoint ip => ip.ToString(),
        null => "-:0",
        _ => endPoint.ToString() ?? "-:0",
    };
}
