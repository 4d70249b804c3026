using Microsoft.Extensions.Logging;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Tests.Infrastructure;

namespace TlsProxyTunnel.Tests.Listeners;

/// <summary>Admission and the maxclients slot, on real accepted sockets; the descriptor budget is the seam.</summary>
public sealed class AdmissionTests
{
    private const string OneClient = "version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    maxclients: 1\n    default: echo\n";

    private readonly RecordingLogger<Admission> _log = new();
    private readonly Mock<IDescriptorBudget> _descriptors = new();
    private readonly ConnectionTracker _tracker = new();
    private readonly ProxyMetrics _metrics = new();

    public AdmissionTests() => _descriptors.Setup(d => d.HasRoom(It.IsAny<int>())).Returns(true);

    [Fact]
    public async Task Past_maxclients_a_socket_is_closed_counted_and_logged_and_the_slot_comes_back_exactly_once_when_the_connection_closes()
    {
        var server = Loopback.Snapshot(OneClient, _metrics).Servers["web"];
        var admission = new Admission(_tracker, _descriptors.Object, _log);
        var (client1, accepted1) = await Loopback.PairAsync();
        var (client2, accepted2) = await Loopback.PairAsync();
        using var c1 = client1;
        using var c2 = client2;

        Assert.True(admission.TryAdmit(server, accepted1, out var slot));
        Assert.False(admission.TryAdmit(server, accepted2, out var refused));

        Assert.False(refused.IsTaken);
        Assert.True(await Loopback.ClosedByPeerAsync(client2));
        Assert.Equal(1, server.Limiter.Active);
        Assert.Contains(_log.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("maxclients", StringComparison.Ordinal));

        // The connection owns the slot: closing it twice gives it back once.
        var connection = new ClientConnection(accepted1, server, new ListenAddress(new(System.Net.IPAddress.Loopback, 0), "127.0.0.1:0"), 1, slot);
        connection.Close();
        connection.Close();
        Assert.Equal(0, server.Limiter.Active);

        // And the place is free again for the next client.
        var (client3, accepted3) = await Loopback.PairAsync();
        using var c3 = client3;
        using var a3 = accepted3;
        Assert.True(admission.TryAdmit(server, accepted3, out var again));
        again.Release();
    }

    [Fact]
    public async Task Without_descriptor_room_a_socket_is_refused_and_the_slot_it_took_is_given_back()
    {
        _descriptors.Setup(d => d.HasRoom(It.IsAny<int>())).Returns(false);
        _descriptors.SetupGet(d => d.Limit).Returns(1024);
        var server = Loopback.Snapshot(OneClient, _metrics).Servers["web"];
        var admission = new Admission(_tracker, _descriptors.Object, _log);
        var (client, accepted) = await Loopback.PairAsync();
        using var _ = client;

        Assert.False(admission.TryAdmit(server, accepted, out var slot));

        Assert.False(slot.IsTaken);
        Assert.Equal(0, server.Limiter.Active);
        Assert.True(await Loopback.ClosedByPeerAsync(client));
        Assert.Contains(_log.Lines, l => l.Message.Contains("1024", StringComparison.Ordinal));
    }
}
