using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Moq;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Tests.Infrastructure;

namespace TlsProxyTunnel.Tests.Listeners;

/// <summary>The accept loop alone: failures injected at its source (Moq), its waits on a fake clock.</summary>
public sealed class AcceptLoopTests
{
    private readonly RecordingLogger<AcceptLoop> _log = new();
    private readonly WatchedTimeProvider _time = new();
    private readonly Mock<IDescriptorBudget> _descriptors = new();
    private readonly Mock<IAcceptSource> _source = new();

    private readonly Queue<Func<ValueTask<Socket>>> _accepts = new();

    public AcceptLoopTests()
    {
        _source.SetupGet(s => s.Text).Returns("127.0.0.1:9");
        _source.Setup(s => s.AcceptAsync()).Returns(() => _accepts.Dequeue()());
    }

    private static ValueTask<Socket> Fails(SocketError error) => ValueTask.FromException<Socket>(new SocketException((int)error));

    private void Then(params Func<ValueTask<Socket>>[] accepts)
    {
        foreach (var accept in accepts)
        {
            _accepts.Enqueue(accept);
        }
    }

    [Fact]
    public async Task Out_of_descriptors_it_gives_up_the_spares_backs_off_doubling_and_accepts_again_once_it_has_them_back()
    {
        var (client, accepted) = await Loopback.PairAsync();
        using var _ = client;
        var pending = new TaskCompletionSource<Socket>();
        Then(
            () => Fails(SocketError.TooManyOpenSockets),
            () => Fails(SocketError.TooManyOpenSockets),
            () => new ValueTask<Socket>(accepted),
            () => new ValueTask<Socket>(pending.Task));
        _descriptors.SetupSequence(d => d.TryTakeSpares()).Returns(false).Returns(true).Returns(true);
        var handed = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        var loop = new AcceptLoop(_descriptors.Object, _time, () => false, _log);

        var running = Task.Run(() => loop.RunAsync(_source.Object, s => handed.TrySetResult(s)));

        // EMFILE: the spares go first, then a 10 ms wait, and no accept meanwhile.
        Assert.Equal(TimeSpan.FromMilliseconds(10), await _time.NextTimerAsync());
        _descriptors.Verify(d => d.ReleaseSpares(), Times.Once);
        _source.Verify(s => s.AcceptAsync(), Times.Once);

        // The spares cannot be taken back yet: wait longer (20 ms), still without accepting.
        _time.Fake.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(TimeSpan.FromMilliseconds(20), await _time.NextTimerAsync());
        _source.Verify(s => s.AcceptAsync(), Times.Once);

        // Taken back: accept again, fail again, 40 ms.
        _time.Fake.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal(TimeSpan.FromMilliseconds(40), await _time.NextTimerAsync());
        _descriptors.Verify(d => d.ReleaseSpares(), Times.Exactly(2));
        _source.Verify(s => s.AcceptAsync(), Times.Exactly(2));

        // Descriptors back: the next connection is handed on and the loop goes on accepting.
        _time.Fake.Advance(TimeSpan.FromMilliseconds(40));
        Assert.Same(accepted, await handed.Task.WaitAsync(Loopback.Timeout));

        // Two failures within a second: one line, naming the error and the wait.
        var line = Assert.Single(_log.Lines, l => l.Level == LogLevel.Error);
        Assert.Equal("Accepting on 127.0.0.1:9 failed (TooManyOpenSockets); backing off 10 ms (0 similar errors not logged)", line.Message);

        _source.SetupGet(s => s.IsClosed).Returns(true);
        pending.SetException(new SocketException((int)SocketError.OperationAborted));
        await running.WaitAsync(Loopback.Timeout);
        accepted.Dispose();
    }

    [Fact]
    public async Task An_unexpected_exception_backs_off_and_the_loop_keeps_accepting()
    {
        var (client, accepted) = await Loopback.PairAsync();
        using var _ = client;
        var pending = new TaskCompletionSource<Socket>();
        Then(
            () => ValueTask.FromException<Socket>(new InvalidOperationException("bug")),
            () => new ValueTask<Socket>(accepted),
            () => new ValueTask<Socket>(pending.Task));
        _descriptors.Setup(d => d.TryTakeSpares()).Returns(true);
        var handed = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        var loop = new AcceptLoop(_descriptors.Object, _time, () => false, _log);

        var running = Task.Run(() => loop.RunAsync(_source.Object, s => handed.TrySetResult(s)));

        Assert.Equal(TimeSpan.FromMilliseconds(10), await _time.NextTimerAsync());
        _descriptors.Verify(d => d.ReleaseSpares(), Times.Never);
        _time.Fake.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Same(accepted, await handed.Task.WaitAsync(Loopback.Timeout));
        Assert.Contains(_log.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("InvalidOperationException", StringComparison.Ordinal));

        _source.SetupGet(s => s.IsClosed).Returns(true);
        pending.SetException(new SocketException((int)SocketError.OperationAborted));
        await running.WaitAsync(Loopback.Timeout);
        accepted.Dispose();
    }

    [Fact]
    public async Task A_listener_closed_on_purpose_ends_its_loop_at_once_without_backing_off_or_logging()
    {
        _source.SetupGet(s => s.IsClosed).Returns(true);
        Then(() => Fails(SocketError.OperationAborted));
        var loop = new AcceptLoop(_descriptors.Object, _time, () => false, _log);

        await loop.RunAsync(_source.Object, _ => Assert.Fail("nothing was accepted")).WaitAsync(Loopback.Timeout);

        _source.Verify(s => s.AcceptAsync(), Times.Once);
        Assert.Empty(_log.Lines);
    }
}
