using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Moq;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tests.Configuration;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Infrastructure;

/// <summary>Real loopback sockets for in-process data-path tests.</summary>
internal static class Loopback
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A connected pair: the client's end and the end accept(2) returned.</summary>
    public static async Task<(Socket Client, Socket Accepted)> PairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Timeout);
        var accepted = await listener.AcceptAsync().WaitAsync(Timeout);
        return (client, accepted);
    }

    /// <summary>True once the peer has closed (EOF) or reset the connection.</summary>
    public static async Task<bool> ClosedByPeerAsync(Socket socket)
    {
        var buffer = new byte[1];
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Timeout) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    /// <summary>The first generation of a configuration given as YAML, built by the real snapshot builder.</summary>
    public static RuntimeSnapshot Snapshot(string yaml, ProxyMetrics? metrics = null, IHostResolver? resolver = null) =>
        new RuntimeSnapshotBuilder(metrics ?? new ProxyMetrics(), new ReadinessState(), resolver ?? Mock.Of<IHostResolver>(), NullLoggerFactory.Instance)
            .Build(ConfigTestHelpers.LoadOk(yaml), previous: null);
}

/// <summary>A <see cref="FakeTimeProvider"/> that also says which timers were created for how long, so a test
/// can wait until code under test is waiting and see what it waits for.</summary>
internal sealed class WatchedTimeProvider : TimeProvider
{
    private readonly Channel<TimeSpan> _created = Channel.CreateUnbounded<TimeSpan>();

    public FakeTimeProvider Fake { get; } = new();

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = Fake.CreateTimer(callback, state, dueTime, period);
        _created.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The due time of the next timer created (waits for it).</summary>
    public async Task<TimeSpan> NextTimerAsync() => await _created.Reader.ReadAsync().AsTask().WaitAsync(Loopback.Timeout);
}
