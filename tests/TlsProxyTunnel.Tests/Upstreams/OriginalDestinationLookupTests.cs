using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Tests.Upstreams;

/// <summary>The sockaddr the kernel answers SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST with, and a socket that has none.</summary>
public sealed class OriginalDestinationLookupTests
{
    [Fact]
    public void A_sockaddr_in_gives_its_address_and_port()
    {
        // AF_INET (2, host order), port 80 (network order), 127.0.0.2, eight bytes of zero padding.
        byte[] sockaddr = [.. Family(2), 0x00, 0x50, 127, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 80), OriginalDestinationLookup.Parse(sockaddr));
    }

    [Fact]
    public void A_sockaddr_in6_gives_its_address_and_port_and_a_mapped_ipv4_address_comes_out_as_ipv4()
    {
        // AF_INET6 (10), port 443, flow info, 2001:db8::2, scope id.
        byte[] v6 = [.. Family(10), 0x01, 0xbb, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0];
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::2"), 443), OriginalDestinationLookup.Parse(v6));

        byte[] mapped = [.. Family(10), 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7, 0, 0, 0, 0];
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 80), OriginalDestinationLookup.Parse(mapped));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void A_short_or_unknown_answer_is_no_address(int length)
    {
        byte[] sockaddr = [.. Family(2), 0x00, 0x50, 127, 0, 0, 2];
        Assert.Null(OriginalDestinationLookup.Parse(sockaddr.AsSpan(0, Math.Min(length, sockaddr.Length))));
        Assert.Null(OriginalDestinationLookup.Parse([.. Family(1), 0, 0, 0, 0, 0, 0, 0, 0]));
    }

    [Fact]
    public async Task A_connection_nothing_redirected_has_no_original_destination()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(TimeSpan.FromSeconds(10));
        using var accepted = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(10));

        var result = OriginalDestinationLookup.Lookup(accepted);
        Assert.Null(result.EndPoint);
        Assert.NotNull(result.Error);
    }

    private static byte[] Family(ushort family) => BitConverter.GetBytes(family);

    [Fact]
    public void The_outcome_label_is_no_original_destination() =>
        Assert.Equal("no_original_destination", ConnectionOutcomes.Label(ConnectionOutcome.NoOriginalDestination));
}
