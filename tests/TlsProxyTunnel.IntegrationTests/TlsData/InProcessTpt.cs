using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
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

            if (!server.Limiter.TryAcquire(server.ConnectionLimit))
            {
                accepted.Dispose();
                continue;
            }

            _ = Handler.RunAsync(new ClientConnection(accepted, server, listen, Interlocked.Increment(ref _nextId)), metrics);
        }
    }
}

/// <summary>Every log line, formatted as "Category: message", and a way to wait for one.</summary>
internal sealed class LogLines : ILoggerProvider
{
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<string> Snapshot()
    {
        lock (_gate)
        {
            return [.. _lines];
        }
    }

    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            Task added;
            lock (_gate)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }

                added = _added.Task;
            }

            try
            {
                await added.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No matching log line; lines so far:\n{string.Join('\n', Snapshot())}");
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Writer(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        TaskCompletionSource added;
        lock (_gate)
        {
            _lines.Add(line);
            added = _added;
            _added = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        added.TrySetResult();
    }

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
