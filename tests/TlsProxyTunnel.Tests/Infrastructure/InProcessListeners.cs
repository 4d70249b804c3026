using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Infrastructure;

/// <summary>The real listener service and connection handler over a snapshot, started in this process on loopback.</summary>
internal sealed class InProcessListeners : IAsyncDisposable
{
    private readonly ListenerService _service;

    private InProcessListeners(ListenerService service, ConnectionTracker tracker)
    {
        _service = service;
        Tracker = tracker;
    }

    public ConnectionTracker Tracker { get; }

    public RecordingLogger<ConnectionHandler> Access { get; private init; } = new();

    public IPEndPoint EndPoint => _service.BoundEndPoints().Single();

    public ListenerService Service => _service;

    public static async Task<InProcessListeners> StartAsync(RuntimeSnapshot snapshot)
    {
        var tracker = new ConnectionTracker();
        var access = new RecordingLogger<ConnectionHandler>();
        var service = new ListenerService(
            snapshot,
            tracker,
            new ConnectionHandler(tracker, access),
            new ProxyMetrics(),
            new ReadinessState(),
            new ShutdownSignals(Mock.Of<IHostApplicationLifetime>(), NullLogger<ShutdownSignals>.Instance),
            NullLogger<ListenerService>.Instance);
        await service.StartAsync(CancellationToken.None);
        return new InProcessListeners(service, tracker) { Access = access };
    }

    /// <summary>A snapshot whose one server runs <paramref name="stages"/> instead of the stages composed for it.</summary>
    public static RuntimeSnapshot WithClientStages(RuntimeSnapshot snapshot, params TlsProxyTunnel.Connections.Stages.IClientStage[] stages)
    {
        var (name, s) = snapshot.Servers.Single();
        var server = new RuntimeServer(s.Config, s.Router, s.DefaultRoute, s.Limiter, s.Metrics, s.ProbeOnly, stages) { Engine = s.Engine };
        return new RuntimeSnapshot(snapshot.Config, snapshot.Generation, new Dictionary<string, RuntimeServer> { [name] = server });
    }

    public async Task<Socket> ConnectAsync()
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(EndPoint).WaitAsync(Loopback.Timeout);
        return client;
    }

    /// <summary>Sends <paramref name="text"/> and waits for it to come back (the echo upstream).</summary>
    public static async Task<string> EchoAsync(Socket client, string text, TimeSpan timeout)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(text);
        await client.SendAsync(bytes, SocketFlags.None).WaitAsync(timeout);
        var buffer = new byte[bytes.Length];
        var got = 0;
        while (got < bytes.Length)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(timeout);
            if (n == 0)
            {
                break;
            }

            got += n;
        }

        return System.Text.Encoding.ASCII.GetString(buffer, 0, got);
    }

    public async ValueTask DisposeAsync()
    {
        await _service.StopAsync(CancellationToken.None).WaitAsync(Loopback.Timeout);
        _service.Dispose();
    }
}
