using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// tpt's data path in this process, on real loopback sockets: a <see cref="ProxyConfig"/> built in code (the TLS
/// settings the loader will fill), compiled by the real <see cref="RuntimeSnapshotBuilder"/>, each accepted socket run
/// by the real <see cref="ConnectionHandler"/>. Only the listener service is left out.
/// </summary>
internal sealed class InProcessTpt : IAsyncDisposable
{
    private readonly Dictionary<string, (Socket Socket, ListenAddress Listen, ListenerMetrics Metrics)> _listeners = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly ILoggerFactory _loggers;
    private long _nextId;

    public InProcessTpt(IReadOnlyList<ServerConfig> servers, IReadOnlyDictionary<string, UpstreamConfig> upstreams)
    {
        _loggers = LoggerFactory.Create(b => b.AddProvider(Lines).SetMinimumLevel(LogLevel.Information));
        var all = new Dictionary<string, UpstreamConfig>(upstreams, StringComparer.Ordinal)
        {
            ["ban"] = UpstreamConfig.BuiltIn("ban", UpstreamKind.Ban),
            ["echo"] = UpstreamConfig.BuiltIn("echo", UpstreamKind.Echo),
            ["health"] = UpstreamConfig.BuiltIn("health", UpstreamKind.Health),
        };
        var config = new ProxyConfig { SourcePath = "in-process", Version = 2, Servers = servers, Upstreams = all };
        var resolver = new DnsHostResolver(config.Resolver, TimeProvider.System, _loggers.CreateLogger<DnsHostResolver>());
        Builder = new RuntimeSnapshotBuilder(Metrics, new ReadinessState(), resolver, _loggers);
        Snapshot = Builder.Build(config, previous: null);
        Handler = new ConnectionHandler(Tracker, _loggers.CreateLogger("TlsProxyTunnel.Access"));
        foreach (var server in servers)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            socket.Listen(128);
            var listen = new ListenAddress((IPEndPoint)socket.LocalEndPoint!, socket.LocalEndPoint!.ToString()!);
            _listeners[server.Name] = (socket, listen, Metrics.Listener(server.Name, listen.Text, server.MaxClients));
            _loops.Add(AcceptAsync(server.Name));
        }
    }

    public LogLines Lines { get; } = new();

    public ProxyMetrics Metrics { get; } = new();

    public ConnectionTracker Tracker { get; } = new();

    public RuntimeSnapshotBuilder Builder { get; }

    public RuntimeSnapshot Snapshot { get; }

    public ConnectionHandler Handler { get; }

    public IPEndPoint EndPoint(string server) => _listeners[server].Listen.EndPoint;

    public static ServerConfig Server(string name, string defaultUpstream) => new()
    {
        Name = name,
        Listen = [new ListenAddress(new IPEndPoint(IPAddress.Loopback, 0), "127.0.0.1:0")],
        Default = defaultUpstream,
        ClientHelloTimeout = TimeSpan.FromSeconds(5),
    };

    public static UpstreamConfig Upstream(string name, string host, int port, UpstreamTlsSettings? tls = null, TimeSpan? connectTimeout = null) => new()
    {
        Name = name,
        Kind = UpstreamKind.Tcp,
        Host = host,
        Port = port,
        Display = $"tcp://{host}:{port}",
        Tls = tls,
        ConnectTimeout = connectTimeout,
    };

    /// <summary>Waits for the access-log line of a connection to server <paramref name="server"/>.</summary>
    public Task<string> AccessLineAsync(string server) =>
        Lines.WaitForAsync(l => l.Contains($" server={server} ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var (socket, _, _) in _listeners.Values)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10));
        Tracker.AbortAll();
        _loggers.Dispose();
        _stop.Dispose();
    }

    private async Task AcceptAsync(string name)
    {
        var (socket, listen, metrics) = _listeners[name];
        var server = Snapshot.Servers[name];
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            if (!ConnectionSlot.TryTake(server.Limiter, server.ConnectionLimit, out var slot))
            {
                accepted.Dispose();
                continue;
            }

            _ = Handler.RunAsync(new ClientConnection(accepted, server, listen, Interlocked.Increment(ref _nextId), slot), metrics);
        }
    }
}

/// <summary>Every log line, formatted as "Category: message", and a way to wait for one.</summary>
internal sealed class LogLines : ILoggerProvider
{
    private readonly LineJournal _journal = new();

    public IReadOnlyList<string> Snapshot() => _journal.Snapshot();

    public Task<string> WaitForAsync(Func<string, bool> match, TimeSpan? timeout = null) =>
        _journal.WaitForAsync(match, timeout, "No matching log line; lines so far");

    public ILogger CreateLogger(string categoryName) => new Writer(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string line) => _journal.Add(line);

    private sealed class Writer(LogLines lines, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lines.Add($"{category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
            }
        }
    }
}
