using System.Net;
using System.Text;
using TlsProxyTunnel.ProxyProtocol;

namespace TlsProxyTunnel.Tests.ProxyProtocol;

public sealed class ProxyProtocolWriterTests
{
    private static string V1(string source, string target) =>
        Encoding.ASCII.GetString(ProxyProtocolWriter.Create(ProxyProtocolVersion.V1, IPEndPoint.Parse(source), IPEndPoint.Parse(target)));

    private static string V2(string source, string target) =>
        Convert.ToHexStringLower(ProxyProtocolWriter.Create(ProxyProtocolVersion.V2, IPEndPoint.Parse(source), IPEndPoint.Parse(target)));

    [Fact]
    public void Writes_the_seed_vectors_byte_for_byte()
    {
        Assert.Equal("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n", V1("192.0.2.10:51000", "198.51.100.7:443"));
        Assert.Equal("PROXY TCP6 2001:db8::1 2001:db8::2 51000 443\r\n", V1("[2001:db8::1]:51000", "[2001:db8::2]:443"));
        Assert.Equal("PROXY TCP4 127.0.0.1 127.0.0.2 41090 80\r\n", V1("127.0.0.1:41090", "127.0.0.2:80"));
        Assert.Equal("0d0a0d0a000d0a515549540a2111000cc000020ac6336407c73801bb", V2("192.0.2.10:51000", "198.51.100.7:443"));
        Assert.Equal("0d0a0d0a000d0a515549540a2111000c7f0000017f000002a0860050", V2("127.0.0.1:41094", "127.0.0.2:80"));

        var v6 = ProxyProtocolWriter.Create(ProxyProtocolVersion.V2, IPEndPoint.Parse("[2001:db8::1]:51000"), IPEndPoint.Parse("[2001:db8::2]:443"));
        Assert.Equal(52, v6.Length);
        Assert.Equal("2121" + "0024", Convert.ToHexStringLower(v6.AsSpan(12, 4)));
    }

    [Fact]
    public void IPv4_mapped_addresses_are_written_as_IPv4()
    {
        // What a dual-stack [::] listener reports for an IPv4 client.
        Assert.Equal("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n", V1("[::ffff:192.0.2.10]:51000", "[::ffff:198.51.100.7]:443"));
        Assert.Equal("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n", V1("[::ffff:192.0.2.10]:51000", "198.51.100.7:443"));
        Assert.Equal("0d0a0d0a000d0a515549540a2111000cc000020ac6336407c73801bb", V2("[::ffff:192.0.2.10]:51000", "198.51.100.7:443"));
    }

    [Fact]
    public void A_mixed_pair_is_written_as_TCP6_with_the_IPv4_end_mapped_never_as_ptw_s_invalid_line()
    {
        var line = V1("192.0.2.10:51000", "[2001:db8::2]:443");
        Assert.Equal("PROXY TCP6 ::ffff:192.0.2.10 2001:db8::2 51000 443\r\n", line);
        Assert.Equal(ProxyProtocolStatus.Header, ProxyProtocolParser.Parse(Encoding.ASCII.GetBytes(line)).Status);

        var v2 = ProxyProtocolWriter.Create(ProxyProtocolVersion.V2, IPEndPoint.Parse("[2001:db8::1]:51000"), IPEndPoint.Parse("198.51.100.7:443"));
        var parse = ProxyProtocolParser.Parse(v2);
        Assert.Equal(ProxyAddressFamily.Inet6, parse.Header!.Family);
        Assert.Equal(IPEndPoint.Parse("[::ffff:198.51.100.7]:443"), parse.Header.Destination);
    }

    [Fact]
    public void Zone_indexes_are_dropped()
    {
        var source = new IPEndPoint(IPAddress.Parse("fe80::1%2"), 5);
        Assert.Equal("PROXY TCP6 fe80::1 2001:db8::2 5 443\r\n", Encoding.ASCII.GetString(ProxyProtocolWriter.Create(ProxyProtocolVersion.V1, source, IPEndPoint.Parse("[2001:db8::2]:443"))));
    }

    [Fact]
    public void Without_IP_addresses_the_header_says_unknown()
    {
        Assert.Equal("PROXY UNKNOWN\r\n", Encoding.ASCII.GetString(ProxyProtocolWriter.Create(ProxyProtocolVersion.V1, null, IPEndPoint.Parse("1.2.3.4:5"))));
        var v2 = ProxyProtocolWriter.Create(ProxyProtocolVersion.V2, new DnsEndPoint("example.net", 1), IPEndPoint.Parse("1.2.3.4:5"));
        Assert.Equal("0d0a0d0a000d0a515549540a21000000", Convert.ToHexStringLower(v2));
    }

    [Fact]
    public void The_longest_v1_line_fits_the_specification_s_107_bytes()
    {
        var longest = new IPEndPoint(IPAddress.Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535);
        var line = ProxyProtocolWriter.Create(ProxyProtocolVersion.V1, longest, longest);
        Assert.InRange(line.Length, 100, ProxyProtocolParser.MaxV1Length);
        Assert.Equal(ProxyProtocolStatus.Header, ProxyProtocolParser.Parse(line).Status);
    }
}
