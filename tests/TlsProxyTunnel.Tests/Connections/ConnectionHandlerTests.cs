using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Moq;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Connections.Stages;
using TlsProxyTunnel.Tests.Infrastructure;

namespace TlsProxyTunnel.Tests.Connections;

/// <summary>The connection handler behind the real listener service, on loopback; stages faked with Moq where a failure is injected.</summary>
[Collection(RunAlone.Name)]
public sealed class ConnectionHandlerTests
{
    private const string EchoServer = "version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    maxclients: 4\n    default: echo\n";

    [Fact]
    public async Task A_stage_that_throws_costs_its_connection_only_logged_as_a_crash_with_the_slot_given_back()
    {
        var crashing = new Mock<IClientStage>();
        crashing.Setup(s => s.RunAsync(It.IsAny<ClientConnection>())).Throws(new InvalidOperationException("stage bug"));
        var snapshot = InProcessListeners.WithClientStages(Loopback.Snapshot(EchoServer), crashing.Object, RouteStage.Instance);
        await using var tpt = await InProcessListeners.StartAsync(snapshot);

        using var client = await tpt.ConnectAsync();

        Assert.True(await Loopback.ClosedByPeerAsync(client));
        await tpt.Tracker.WhenClosed().WaitAsync(Loopback.Timeout);
        Assert.Equal(0, snapshot.Servers["web"].Limiter.Active);
        Assert.Contains(tpt.Access.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("stage bug", StringComparison.Ordinal));
        Assert.Contains(tpt.Access.Lines, l => l.Message.Contains("outcome=client_error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_connection_quiet_for_idle_timeout_is_cut_never_before_it_while_its_neighbour_that_keeps_talking_stays()
    {
        await using var tpt = await InProcessListeners.StartAsync(Loopback.Snapshot(EchoServer + "    idle_timeout: 3s\n"));
        using var quiet = await tpt.ConnectAsync();
        using var talking = await tpt.ConnectAsync();
        Assert.Equal("a", await InProcessListeners.EchoAsync(quiet, "a", Loopback.Timeout));

        // The neighbour talks every 100 ms (a thirtieth of the timeout: a loaded machine may stall a tick for a second) until the quiet one has been cut.
        var cut = Loopback.ClosedByPeerAsync(quiet);
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (!cut.IsCompleted && await pace.WaitForNextTickAsync())
        {
            Assert.Equal("b", await InProcessListeners.EchoAsync(talking, "b", Loopback.Timeout));
        }

        Assert.True(await cut);
        var line = await tpt.Access.WaitForAsync(l => l.Contains("outcome=idle_timeout", StringComparison.Ordinal));
        var duration = long.Parse(System.Text.RegularExpressions.Regex.Match(line, @"duration_ms=(\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(duration, 3000, 30_000);
        Assert.Equal("b", await InProcessListeners.EchoAsync(talking, "b", Loopback.Timeout));
        Assert.Single(tpt.Access.Lines, l => l.Message.Contains("outcome=idle_timeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stage_that_may_hold_its_thread_never_runs_on_the_accept_loop_so_the_next_client_is_served_meanwhile()
    {
        // Stands for a TLS server handshake: with the client's bytes already there it runs without ever waiting.
        using var release = new ManualResetEventSlim();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        var holding = new Mock<IClientStage>();
        holding.SetupGet(s => s.HoldsThread).Returns(true);
        holding.Setup(s => s.RunAsync(It.IsAny<ClientConnection>())).Returns(() =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                held.SetResult();
                release.Wait(Loopback.Timeout);
            }

            return ValueTask.FromResult<ConnectionOutcome?>(null);
        });
        var snapshot = InProcessListeners.WithClientStages(Loopback.Snapshot(EchoServer), holding.Object, RouteStage.Instance);
        await using var tpt = await InProcessListeners.StartAsync(snapshot);
        try
        {
            // The second client connects only once the first holds its thread: accepted together, their stages
            // may start in either order (Task.Yield queues to the accepting thread's LIFO local queue).
            using var first = await tpt.ConnectAsync();
            await held.Task.WaitAsync(Loopback.Timeout);
            using var second = await tpt.ConnectAsync();

            Assert.Equal("ping", await InProcessListeners.EchoAsync(second, "ping", TimeSpan.FromSeconds(10)));
        }
        finally
        {
            release.Set();
        }
    }
}

/// <summary>terminate_tls behind the real listener service: a slow TLS client must never hold up accepting.</summary>
public sealed class TerminateTlsAcceptTests : IDisposable
{
    private readonly TlsProxyTunnel.Tests.Configuration.CertificateDirectory _certs = new();

    public void Dispose() => _certs.Dispose();

    [Fact]
    public async Task Clients_that_send_half_a_hello_or_a_whole_one_and_then_wait_do_not_hold_up_the_next_client()
    {
        var (cert, key) = _certs.SelfSigned("server", 30, "a.example");
        var yaml = $"version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    terminate_tls:\n      cert: \"{cert}\"\n      key: \"{key}\"\n    default: echo\n";
        await using var tpt = await InProcessListeners.StartAsync(Loopback.Snapshot(yaml));
        var hello = TlsProxyTunnel.Tests.Tls.ClientHelloBuilder.Browser("a.example").Build();

        using var half = await tpt.ConnectAsync();
        await half.SendAsync(hello.AsMemory(0, hello.Length / 2), SocketFlags.None);
        using var whole = await tpt.ConnectAsync();
        await whole.SendAsync(hello, SocketFlags.None);

        using var expected = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(cert));
        using var next = await tpt.ConnectAsync();
        using var tls = new System.Net.Security.SslStream(new NetworkStream(next, ownsSocket: false));
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "a.example",
            RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == expected.GetCertHashString(),
        }).WaitAsync(TimeSpan.FromSeconds(10));
        await tls.WriteAsync("ping"u8.ToArray()).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var buffer = new byte[4];
        await tls.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("ping"u8.ToArray(), buffer);

        // The two waiting clients are still waiting: nothing cut them to make room.
        Assert.Equal(3, tpt.Tracker.Count);
    }
}
