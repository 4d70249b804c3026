using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>One tpt process with every kind of server, in front of recording backends.</summary>
public sealed class RouterFixture : IAsyncLifetime
{
    public TestBackend A { get; } = new("A");

    public TestBackend Wild { get; } = new("WILD");

    public TestBackend Deep { get; } = new("DEEP");

    public TestBackend Default { get; } = new("DEFAULT");

    public TptProcess Tpt { get; private set; } = null!;

    private TempConfig? _config;

    public async Task InitializeAsync()
    {
        _config = new TempConfig($"""
            version: 2
            log: info
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                client_hello_timeout: 1s
                sni:
                  a.example.test: a
                  "*.wild.example.test": wild
                  "*.deep.wild.example.test": deep
                  ban.example.test: ban
                  echo.example.test: echo
                default: fallback
                maxclients: 200
              dribble:
                # For hellos sent a byte per read: each waits for tpt to read the previous one.
                listen: ["127.0.0.1:0"]
                tls: true
                client_hello_timeout: 30s
                sni:
                  a.example.test: a
                default: fallback
              echo:
                listen: ["127.0.0.1:0"]
                default: echo
              ban:
                listen: ["127.0.0.1:0"]
                default: ban
              health:
                listen: ["127.0.0.1:0"]
                default: health
              limited:
                listen: ["127.0.0.1:0", "[::1]:0"]
                tls: true
                default: a
                maxclients: 2
            upstream:
              a: "tcp://{A.Address}"
              wild: "tcp://{Wild.Address}"
              deep: "tcp://{Deep.Address}"
              fallback: "tcp://{Default.Address}"
            """);
        Tpt = await TptProcess.StartAsync(_config.Path, expectedListeners: 7);
        _baselineSockets = Tpt.OpenSocketCount();
    }

    private int _baselineSockets;

    public async Task DisposeAsync()
    {
        // Every test of the class is done: whatever it did, the router must hold no socket beyond its listeners.
        var left = await Tpt.WaitForSocketCountAsync(_baselineSockets);
        await Tpt.DisposeAsync();
        foreach (var backend in new[] { A, Wild, Deep, Default })
        {
            await backend.DisposeAsync();
        }

        _config?.Dispose();
        Assert.True(left == _baselineSockets, $"tpt held {left} sockets after the tests, {_baselineSockets} before them");
    }
}
