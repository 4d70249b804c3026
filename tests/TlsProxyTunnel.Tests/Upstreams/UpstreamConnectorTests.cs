using System.Net;
using System.Net.Sockets;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Tests.Infrastructure;
using TlsProxyTunnel.Upstreams;

namespace TlsProxyTunnel.Tests.Upstreams;

/// <summary>The connector on real loopback sockets, with the resolver (Moq) as the seam for answers and failures.</summary>
public sealed class UpstreamConnectorTests : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly Mock<IHostResolver> _resolver = new();

    public UpstreamConnectorTests()
    {
        // Listening on 127.0.0.1 only: the same port on 127.0.0.2 refuses.
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
    }

    private int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public void Dispose() => _listener.Dispose();

    private UpstreamConfig Upstream(string host = "backend.test") => new()
    {
        Name = "backend",
        Kind = UpstreamKind.Tcp,
        Host = host,
        Port = Port,
        Display = $"tcp://{host}:{Port}",
    };

    private void Answers(params string[] addresses) =>
        _resolver.Setup(r => r.ResolveAsync(It.IsAny<HostToResolve>(), It.IsAny<AddressFamilyFilter>(), It.IsAny<CancellationToken>()))
            .Returns(() => ValueTask.FromResult(ResolveResult.Success([.. addresses.Select(IPAddress.Parse)])));

    [Fact]
    public async Task A_resolver_failure_is_the_attempt_s_error_and_nothing_is_dialled()
    {
        _resolver.Setup(r => r.ResolveAsync(It.IsAny<HostToResolve>(), It.IsAny<AddressFamilyFilter>(), It.IsAny<CancellationToken>()))
            .Returns(() => ValueTask.FromResult(ResolveResult.Failure("'backend.test' does not exist (NXDOMAIN)")));
        var connector = new UpstreamConnector(_resolver.Object, new AddressRotation());

        var attempt = await connector.ConnectAsync(Upstream(), TimeSpan.FromSeconds(5)).AsTask().WaitAsync(Loopback.Timeout);

        Assert.Null(attempt.Socket);
        Assert.Equal("'backend.test' does not exist (NXDOMAIN)", attempt.Error);
    }

    [Fact]
    public async Task An_address_that_refuses_is_passed_over_for_the_next_and_the_next_connection_starts_at_the_following_address()
    {
        Answers("127.0.0.2", "127.0.0.1");
        var connector = new UpstreamConnector(_resolver.Object, new AddressRotation());

        var first = await connector.ConnectAsync(Upstream(), TimeSpan.FromSeconds(5)).AsTask().WaitAsync(Loopback.Timeout);
        using var firstSocket = first.Socket;
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, Port), first.EndPoint);
        Assert.True(firstSocket?.Connected);

        // Round robin: the second connection starts at 127.0.0.1 and gets it at once.
        var second = await connector.ConnectAsync(Upstream(), TimeSpan.FromSeconds(5)).AsTask().WaitAsync(Loopback.Timeout);
        using var secondSocket = second.Socket;
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, Port), second.EndPoint);
    }

    [Fact]
    public async Task When_every_address_refuses_the_error_names_the_last_one()
    {
        Answers("127.0.0.2", "127.0.0.3");
        var connector = new UpstreamConnector(_resolver.Object, new AddressRotation());

        var attempt = await connector.ConnectAsync(Upstream(), TimeSpan.FromSeconds(5)).AsTask().WaitAsync(Loopback.Timeout);

        Assert.Null(attempt.Socket);
        Assert.Equal($"connecting to 127.0.0.3:{Port} failed: ConnectionRefused", attempt.Error);
    }

    [Fact]
    public async Task A_resolver_that_never_answers_is_given_up_on_at_connect_timeout_and_the_next_connection_is_unaffected()
    {
        _resolver.Setup(r => r.ResolveAsync(It.IsAny<HostToResolve>(), It.IsAny<AddressFamilyFilter>(), It.IsAny<CancellationToken>()))
            .Returns((HostToResolve _, AddressFamilyFilter _, CancellationToken ct) => NeverAsync(ct));
        var connector = new UpstreamConnector(_resolver.Object, new AddressRotation());

        var attempt = await connector.ConnectAsync(Upstream(), TimeSpan.FromMilliseconds(200)).AsTask().WaitAsync(Loopback.Timeout);

        Assert.Null(attempt.Socket);
        Assert.Equal("resolving the upstream took longer than connect_timeout (200 ms)", attempt.Error);

        // The deadline that fired is not reused: the next connection's own deadline starts afresh.
        Answers("127.0.0.1");
        var next = await connector.ConnectAsync(Upstream(), TimeSpan.FromSeconds(5)).AsTask().WaitAsync(Loopback.Timeout);
        using var socket = next.Socket;
        Assert.NotNull(socket);
    }

    private static async ValueTask<ResolveResult> NeverAsync(CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct);
        throw new InvalidOperationException("unreachable");
    }
}
