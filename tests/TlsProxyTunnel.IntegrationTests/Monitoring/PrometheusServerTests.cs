using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>The harness's own promise: a port taken between choosing it and Prometheus binding it costs a retry, not the test.</summary>
public sealed class PrometheusServerTests
{
    [Fact]
    public async Task A_port_taken_meanwhile_is_retried_on_another()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var takenPort = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var offered = new List<int>();
        int Ports()
        {
            offered.Add(offered.Count == 0 ? takenPort : Infrastructure.FreePort.Tcp());
            return offered[^1];
        }

        // Nothing to scrape is needed here: Prometheus is ready without its target.
        await using var prometheus = await PrometheusServer.StartAsync(new IPEndPoint(IPAddress.Loopback, takenPort), Ports);

        Assert.Equal(2, offered.Count);
        Assert.Equal(offered[1], prometheus.Port);
        Assert.NotEqual(takenPort, prometheus.Port);
        Assert.Empty(await prometheus.QueryAsync("up == 2"));
    }
}
