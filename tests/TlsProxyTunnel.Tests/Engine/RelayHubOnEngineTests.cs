using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.ReverseRelay;
using static TlsProxyTunnel.Tests.Engine.EngineTestKit;

namespace TlsProxyTunnel.Tests.Engine;

/// <summary>
/// A relay's pairs on the Linux engine (issue #14's throughput): the public client goes on a loop at accept, its
/// reverse connection joins it there, and the engine's relay carries both ways; real loopback data ports.
/// </summary>
[Collection(LinuxEngineAlone.Name)]
public sealed class RelayHubOnEngineTests : IDisposable
{
    private readonly RelayServerMetrics _metrics = new RelayMetrics().Relay("relay", 1);
    private readonly RelayHub _hub;
    private readonly TaskCompletionSource _announced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly RelaySession _session;
    private readonly int _before = Registered();

    public RelayHubOnEngineTests()
    {
        var settings = new RelaySettings { Control = new ListenAddress(new IPEndPoint(IPAddress.Loopback, 0), "127.0.0.1:0"), PortCount = 2 };
        _hub = new RelayHub("relay", settings, _metrics, NullLogger.Instance, TheEngine);
        Assert.Null(_hub.Bind());
        _hub.Start();
        _session = _hub.NewSession(() => _announced.TrySetResult());
        Assert.NotNull(_hub.Link(_session));
    }

    public void Dispose() => _hub.Dispose();

    [Fact]
    public async Task A_pair_runs_on_the_engine_what_the_client_sent_before_pairing_goes_first_and_both_leave_the_loop_at_the_end()
    {
        var (client, reverse) = await PairAsync("before pairing|");
        using var clientOwned = client;
        using var reverseOwned = reverse;

        // Both data connections are the engine's now, not System.Net.Sockets'.
        Assert.Equal(_before + 2, Registered());

        var up = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var down = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var atServer = ReadToEndAsync(reverse);
        var atClient = ReadToEndAsync(client);
        await Task.WhenAll(SendAllThenFinAsync(client, up), SendAllThenFinAsync(reverse, down)).WaitAsync(Patience);
        Assert.Equal(SHA256.HashData(up), SHA256.HashData(await atServer.WaitAsync(Patience)));
        Assert.Equal(SHA256.HashData(down), SHA256.HashData(await atClient.WaitAsync(Patience)));

        await AllLoopsDrainedAsync();
        Assert.Equal(_before, Registered());
    }

    [Fact]
    public async Task Ending_the_session_closes_a_pair_the_engine_relays_with_a_fin_not_a_reset()
    {
        var (client, reverse) = await PairAsync("x");
        using var clientOwned = client;
        using var reverseOwned = reverse;
        await reverse.SendAsync("y"u8.ToArray(), SocketFlags.None);
        Assert.Equal("y", Encoding.ASCII.GetString(await ReadExactlyAsync(client, 1)));

        _hub.Unlink(_session);

        // ReadToEndAsync throws on a reset: both see a clean end.
        Assert.Empty(await ReadToEndAsync(client).WaitAsync(Patience));
        Assert.Empty(await ReadToEndAsync(reverse).WaitAsync(Patience));
        await AllLoopsDrainedAsync();
        Assert.Equal(_before, Registered());
    }

    [Fact]
    public async Task A_client_that_left_before_pairing_still_takes_the_next_reverse_connection_which_gets_its_bytes_and_an_end()
    {
        using (var client = await ConnectAsync(_hub.FirstPublicPort))
        {
            await client.SendAsync("gone|"u8.ToArray(), SocketFlags.None);
            await _announced.Task.WaitAsync(Patience);
        }

        using var reverse = await ConnectAsync(_hub.FirstReversePort);
        Assert.Equal("gone|", Encoding.ASCII.GetString(await ReadToEndAsync(reverse).WaitAsync(Patience)));
        await AllLoopsDrainedAsync();
        Assert.Equal(_before, Registered());
    }

    /// <summary>A public client that sends <paramref name="first"/> before pairing, and the reverse connection that receives it.</summary>
    private async Task<(Socket Client, Socket Reverse)> PairAsync(string first)
    {
        var client = await ConnectAsync(_hub.FirstPublicPort);
        await client.SendAsync(Encoding.ASCII.GetBytes(first), SocketFlags.None);
        await _announced.Task.WaitAsync(Patience);
        var reverse = await ConnectAsync(_hub.FirstReversePort);
        Assert.Equal(first, Encoding.ASCII.GetString(await ReadExactlyAsync(reverse, first.Length)));
        return (client, reverse);
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Patience);
        return socket;
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None).AsTask().WaitAsync(Patience);
            Assert.NotEqual(0, read);
            filled += read;
        }

        return buffer;
    }

    /// <summary>The pair's end runs on its loop after the last byte went out: every loop has handled what was ready.</summary>
    private static async Task AllLoopsDrainedAsync()
    {
        foreach (var loop in Loops())
        {
            await LoopDrainedAsync(loop);
        }
    }
}
