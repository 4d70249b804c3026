using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Tests.Infrastructure;

namespace TlsProxyTunnel.Tests.Listeners;

/// <summary>The shutdown drain on a fake clock, with a real connection in the tracker.</summary>
public sealed class ConnectionDrainTests : IAsyncLifetime
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    private readonly RecordingLogger<ConnectionDrain> _log = new();
    private readonly WatchedTimeProvider _time = new();
    private readonly ConnectionTracker _tracker = new();
    private System.Net.Sockets.Socket _client = null!;
    private ClientConnection _connection = null!;

    public async Task InitializeAsync()
    {
        var (client, accepted) = await Loopback.PairAsync();
        _client = client;
        var server = Loopback.Snapshot("version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n").Servers["web"];
        _connection = new ClientConnection(accepted, server, new ListenAddress(new(System.Net.IPAddress.Loopback, 0), "127.0.0.1:0"), 1, ConnectionSlot.None);
        _tracker.Add(_connection);
    }

    public Task DisposeAsync()
    {
        _connection.Close();
        _client.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task With_nothing_left_the_drain_ends_at_once()
    {
        _tracker.Remove(_connection);
        var drain = new ConnectionDrain(_tracker, _time, _log);

        Assert.Null(await drain.WaitAsync(ShutdownTimeout, new TaskCompletionSource().Task).WaitAsync(Loopback.Timeout));
        Assert.Contains(_log.Lines, l => l.Message.Contains("draining 0 connections for up to 30 s", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_drain_waits_for_shutdown_timeout_and_then_cuts_what_is_left()
    {
        var drain = new ConnectionDrain(_tracker, _time, _log);

        var waiting = drain.WaitAsync(ShutdownTimeout, new TaskCompletionSource().Task);
        Assert.Equal(ShutdownTimeout, await _time.NextTimerAsync());
        _time.Fake.Advance(ShutdownTimeout - TimeSpan.FromMilliseconds(1));
        Assert.False(waiting.IsCompleted);
        _time.Fake.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("shutdown_timeout reached", await waiting.WaitAsync(Loopback.Timeout));

        // Cut: the client sees its connection reset; once the handler has accounted (here: removed it), the cut is over.
        var cutting = drain.CutAsync();
        Assert.True(_connection.IsAborted);
        Assert.True(await Loopback.ClosedByPeerAsync(_client));
        _tracker.Remove(_connection);
        await cutting.WaitAsync(Loopback.Timeout);
    }

    [Fact]
    public async Task A_second_signal_ends_the_drain_early_and_a_connection_that_finishes_ends_it_too()
    {
        var drain = new ConnectionDrain(_tracker, _time, _log);
        var forced = new TaskCompletionSource();

        var waiting = drain.WaitAsync(ShutdownTimeout, forced.Task);
        await _time.NextTimerAsync();
        forced.SetResult();
        Assert.Equal("second signal", await waiting.WaitAsync(Loopback.Timeout));

        var again = drain.WaitAsync(ShutdownTimeout, new TaskCompletionSource().Task);
        await _time.NextTimerAsync();
        _tracker.Remove(_connection);
        Assert.Null(await again.WaitAsync(Loopback.Timeout));
        Assert.False(_connection.IsAborted);
        Assert.All(_log.Lines, l => Assert.Equal(LogLevel.Information, l.Level));
    }
}
