using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Runtime.CompilerServices;

namespace TlsProxyTunnel.Tls;

/// <summary>
/// Keeps <c>SSL_shutdown</c> (sending close_notify) off an SSL object while a read may be running OpenSSL on it.
/// </summary>
/// <remarks>
/// The relay ends one direction of a TLS leg while the other direction is still reading it. SslStream serializes
/// its own reads and writes, but not <see cref="System.Net.Security.SslStream.ShutdownAsync"/> against a read that
/// is decrypting a record: OpenSSL's SSL object is not thread-safe, and the two calls at once fail with
/// "shutdown while in init" (a NewSessionTicket being processed) or corrupt it, which crashed the process
/// (a segfault in libssl). A read is "inside OpenSSL" from the moment it is issued until it either waits on the
/// socket (the stream under SslStream is asked for bytes) or returns; only then may a shutdown run. The
/// semaphore is held for exactly those spans, so an idle leg, whose read is parked on the socket, shuts down at
/// once, and bytes that arrive during a shutdown wait for it before SslStream sees them.
/// </remarks>
[SuppressMessage("Design", "CA1001", Justification = "A SemaphoreSlim whose AvailableWaitHandle is never used holds nothing to dispose; disposing it would make a late Release on a cut leg throw.")]
internal sealed class TlsReadGate
{
    private readonly SemaphoreSlim _openSsl = new(1, 1);

    // Touched only by the single reader's flow (one read at a time per leg, as SslStream requires).
    private bool _reading;
    private bool _readerHolds;

    /// <summary>A read of <paramref name="stream"/> (the SslStream over this gate's stream) with the gate kept.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReadAsync(SslStream stream, Memory<byte> buffer, CancellationToken ct = default)
    {
        await EnterReadAsync(ct).ConfigureAwait(false);
        try
        {
            return await stream.ReadAsync(buffer, ct).ConfigureAwait(false);
        }
        finally
        {
            ExitRead();
        }
    }

    public async ValueTask EnterReadAsync(CancellationToken ct)
    {
        await _openSsl.WaitAsync(ct).ConfigureAwait(false);
        _readerHolds = true;
        _reading = true;
    }

    public void ExitRead()
    {
        _reading = false;
        Release();
    }

    /// <summary>SslStream asks the socket for bytes: the read is no longer inside OpenSSL.</summary>
    public void InnerReadStarting()
    {
        if (_reading)
        {
            Release();
        }
    }

    /// <summary>The socket delivered; SslStream is about to decrypt.</summary>
    public ValueTask InnerReadDoneAsync(CancellationToken ct) => _reading ? ReacquireAsync(ct) : ValueTask.CompletedTask;

    /// <summary>Runs the synchronous start of a shutdown (where SslStream calls SSL_shutdown) with no read inside OpenSSL.</summary>
    public async ValueTask<Task> StartShutdownAsync(Func<Task> shutdown)
    {
        await _openSsl.WaitAsync().ConfigureAwait(false);
        try
        {
            return shutdown();
        }
        finally
        {
            _openSsl.Release();
        }
    }

    private async ValueTask ReacquireAsync(CancellationToken ct)
    {
        await _openSsl.WaitAsync(ct).ConfigureAwait(false);
        _readerHolds = true;
    }

    private void Release()
    {
        if (_readerHolds)
        {
            _readerHolds = false;
            _openSsl.Release();
        }
    }
}
