using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tests.Configuration;
using TlsProxyTunnel.Tests.Infrastructure;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Listeners;

/// <summary>The listener service's parts put together: a reload's plan applied to real listeners on loopback.</summary>
public sealed class ListenerServiceTests
{
    private readonly RuntimeSnapshotBuilder _builder = new(new ProxyMetrics(), new ReadinessState(), Mock.Of<IHostResolver>(), NullLoggerFactory.Instance);

    private RuntimeSnapshot Build(string servers, RuntimeSnapshot? previous) =>
        _builder.Build(ConfigTestHelpers.LoadOk("version: 2\nservers:\n" + servers), previous);

    private const string A = "  a:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n";
    private const string B = "  b:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n";

    [Fact]
    public async Task A_reload_keeps_the_listeners_that_stay_binds_the_new_ones_and_closes_the_dropped_ones()
    {
        var first = Build(A, previous: null);
        await using var tpt = await InProcessListeners.StartAsync(first);
        var a = tpt.EndPoint;

        var second = Build(A + B, tpt.Service.Current);
        var added = await tpt.Service.ApplyAsync(second).WaitAsync(Loopback.Timeout);

        Assert.True(added.Applied);
        var bListen = Assert.Single(added.Added);
        Assert.StartsWith("b 127.0.0.1:", bListen, StringComparison.Ordinal);
        Assert.Empty(added.Removed);
        Assert.Contains(a, tpt.Service.BoundEndPoints());
        var b = tpt.Service.BoundEndPoints().Single(e => !e.Equals(a));

        // a's listener stayed open through the reload: a client still gets its echo.
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(a).WaitAsync(Loopback.Timeout);
            Assert.Equal("a", await InProcessListeners.EchoAsync(client, "a", Loopback.Timeout));
        }

        var third = Build(B, tpt.Service.Current);
        var removed = await tpt.Service.ApplyAsync(third).WaitAsync(Loopback.Timeout);

        Assert.True(removed.Applied);
        Assert.Equal(["a/127.0.0.1:0"], removed.Removed);
        Assert.Equal([b], tpt.Service.BoundEndPoints());
        using var refused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var error = await Assert.ThrowsAsync<SocketException>(() => refused.ConnectAsync(a).WaitAsync(Loopback.Timeout));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(3, tpt.Service.Current.Generation);
    }

    [Fact]
    public async Task A_reload_that_cannot_bind_changes_nothing()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen(1);
        var first = Build(A, previous: null);
        await using var tpt = await InProcessListeners.StartAsync(first);
        var a = tpt.EndPoint;

        var next = Build(A + $"  c:\n    listen: [\"127.0.0.1:0\", \"{taken.LocalEndPoint}\"]\n    default: echo\n", tpt.Service.Current);
        var result = await tpt.Service.ApplyAsync(next).WaitAsync(Loopback.Timeout);

        Assert.False(result.Applied);
        Assert.Equal($"cannot listen on {taken.LocalEndPoint}: address in use (server c)", result.Error);
        Assert.Same(first, tpt.Service.Current);
        Assert.Equal([a], tpt.Service.BoundEndPoints());
    }
}
