using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Benchmarks;

/// <summary>
/// Bytes allocated per connection on tpt's data path (`dotnet run -c Release -- connection-allocations`): the real
/// listener service, handler and stages in this process on loopback, one connection after another (a ClientHello
/// with SNI, its echo back through the upstream, FIN both ways), counted with GC.GetTotalAllocatedBytes(precise) over
/// every thread. The same client against the upstream directly is measured too and subtracted, so what is left is
/// tpt's own share. Access logging is off (its formatting is the same before and after any data-path change).
/// </summary>
internal static class ConnectionAllocations
{
    public static async Task RunAsync(string[] args)
    {
        var count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 4000;
        using var echo = new EchoServer(proxy: false);
        using var proxy = new EchoServer(proxy: true);
        var hello = ClientHello("a.example");

        var direct = await MeasureAsync(echo.EndPoint, hello, count);
        Console.WriteLine($"client and upstream alone: {direct:0} B/connection");

        foreach (var (name, server) in new[]
        {
            ("sni route, direct upstream", $"    sni:\n      a.example: up\n"),
            ("sni route, via with static target", $"    sni:\n      a.example: {{upstream: px, via: {{target: \"b.example:443\"}}}}\n"),
            ("sni route, via with use_sni_as_target", $"    sni:\n      a.example: {{upstream: px, via: {{use_sni_as_target: true, target_port: 443}}}}\n"),
        })
        {
            var yaml = $"version: 2\nupstream:\n  up: tcp://{echo.EndPoint}\n  px: tcp://{proxy.EndPoint}\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    tls: true\n    default: up\n    idle_timeout: 60s\n    write_timeout: 60s\n{server}";
            await using var tpt = await Tpt.StartAsync(yaml);
            var through = await MeasureAsync(tpt.EndPoint, hello, count, tpt.Tracker);
            Console.WriteLine($"{name}: {through:0} B/connection through tpt, {through - direct:0} B of them tpt's");
        }
    }

    private static async Task<double> MeasureAsync(IPEndPoint target, byte[] hello, int count, ConnectionTracker? tracker = null)
    {
        var buffer = new byte[hello.Length + 64];
        for (var round = 0; round < 2; round++)
        {
            // Round 0 warms up (JIT, pools, tiering); round 1 is measured.
            var n = round == 0 ? Math.Max(500, count / 4) : count;
            GC.Collect();
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < n; i++)
            {
                await OneAsync(target, hello, buffer);
            }

            if (tracker is not null)
            {
                await tracker.WhenClosed().WaitAsync(TimeSpan.FromSeconds(30));
            }

            var after = GC.GetTotalAllocatedBytes(precise: true);
            if (round == 1)
            {
                return (after - before) / (double)n;
            }
        }

        return 0;
    }

    private static async Task OneAsync(IPEndPoint target, byte[] hello, byte[] buffer)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(target);
        await client.SendAsync(hello, SocketFlags.None);
        var got = 0;
        while (got < hello.Length)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None);
            if (n == 0)
            {
                throw new InvalidOperationException("closed before the echo came back");
            }

            got += n;
        }

        client.Shutdown(SocketShutdown.Send);
        while (await client.ReceiveAsync(buffer.AsMemory(), SocketFlags.None) > 0)
        {
        }
    }

    /// <summary>A minimal TLS 1.2 ClientHello record with one server name.</summary>
    private static byte[] ClientHello(string host)
    {
        var name = Encoding.ASCII.GetBytes(host);
        var sni = new List<byte> { 0x00, 0x00 };
        var listLength = name.Length + 3;
        sni.AddRange([(byte)((listLength + 2) >> 8), (byte)(listLength + 2), (byte)(listLength >> 8), (byte)listLength, 0x00, (byte)(name.Length >> 8), (byte)name.Length]);
        sni.AddRange(name);
        var body = new List<byte> { 0x03, 0x03 };
        body.AddRange(new byte[32]);
        body.Add(0);
        body.AddRange([0x00, 0x02, 0xc0, 0x2f, 0x01, 0x00]);
        body.AddRange([(byte)(sni.Count >> 8), (byte)sni.Count]);
        body.AddRange(sni);
        var handshake = new List<byte> { 0x01, 0, (byte)(body.Count >> 8), (byte)body.Count };
        handshake.AddRange(body);
        var record = new byte[5 + handshake.Count];
        record[0] = 0x16;
        record[1] = 0x03;
        record[2] = 0x01;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(3), (ushort)handshake.Count);
        handshake.CopyTo(record, 5);
        return record;
    }

    /// <summary>Echoes until EOF, then closes; as a proxy it first answers the CONNECT request with 200.</summary>
    private sealed class EchoServer : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly bool _proxy;

        public EchoServer(bool proxy)
        {
            _proxy = proxy;
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(1024);
            _ = Task.Run(AcceptAsync);
        }

        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

        public void Dispose() => _listener.Dispose();

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = ServeAsync(socket);
            }
        }

        private async Task ServeAsync(Socket socket)
        {
            using (socket)
            {
                var buffer = new byte[4096];
                try
                {
                    if (_proxy)
                    {
                        var seen = 0;
                        while (seen < 4 || !buffer.AsSpan(0, seen).EndsWith("\r\n\r\n"u8))
                        {
                            var n = await socket.ReceiveAsync(buffer.AsMemory(seen), SocketFlags.None);
                            if (n == 0)
                            {
                                return;
                            }

                            seen += n;
                        }

                        await socket.SendAsync("HTTP/1.1 200 OK\r\n\r\n"u8.ToArray(), SocketFlags.None);
                    }

                    while (true)
                    {
                        var n = await socket.ReceiveAsync(buffer, SocketFlags.None);
                        if (n == 0)
                        {
                            socket.Shutdown(SocketShutdown.Send);
                            return;
                        }

                        await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
                    }
                }
                catch (SocketException)
                {
                }
            }
        }
    }

    /// <summary>The real listener service over a configuration given as YAML.</summary>
    private sealed class Tpt : IAsyncDisposable
    {
        private readonly ListenerService _listeners;

        private Tpt(ListenerService listeners, ConnectionTracker tracker, IPEndPoint endPoint)
        {
            _listeners = listeners;
            Tracker = tracker;
            EndPoint = endPoint;
        }

        public ConnectionTracker Tracker { get; }

        public IPEndPoint EndPoint { get; }

        public static async Task<Tpt> StartAsync(string yaml)
        {
            var loaded = ConfigLoader.LoadText(yaml, "bench.yaml", _ => null);
            var config = loaded.Config ?? throw new InvalidOperationException(string.Join("\n", loaded.Diagnostics));
            var metrics = new ProxyMetrics();
            var readiness = new ReadinessState();
            var resolver = new DnsHostResolver(config.Resolver, TimeProvider.System, NullLogger<DnsHostResolver>.Instance);
            var snapshot = new RuntimeSnapshotBuilder(metrics, readiness, resolver, NullLoggerFactory.Instance).Build(config, previous: null);
            var tracker = new ConnectionTracker();
            var listeners = ListenerServiceFor(snapshot, tracker, metrics, readiness);
            await listeners.StartAsync(CancellationToken.None);
            var endPoint = listeners.BoundEndPoints().Single();
            return new Tpt(listeners, tracker, endPoint);
        }

        public async ValueTask DisposeAsync()
        {
            await _listeners.StopAsync(CancellationToken.None);
            _listeners.Dispose();
        }

        private static ListenerService ListenerServiceFor(RuntimeSnapshot snapshot, ConnectionTracker tracker, ProxyMetrics metrics, ReadinessState readiness) =>
            new(
                snapshot,
                tracker,
                new ConnectionHandler(tracker, NullLogger.Instance),
                metrics,
                readiness,
                new ShutdownSignals(new Lifetime(), NullLogger<ShutdownSignals>.Instance),
                NullLogger<ListenerService>.Instance);
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}
