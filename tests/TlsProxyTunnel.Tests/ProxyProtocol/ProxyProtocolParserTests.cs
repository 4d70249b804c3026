using System.Net;
using System.Text;
using TlsProxyTunnel.ProxyProtocol;

namespace TlsProxyTunnel.Tests.ProxyProtocol;

/// <summary>The byte vectors of seed-tools.md §1.1 (written by the original ptw) and the specification's edge cases.</summary>
public sealed class ProxyProtocolParserTests
{
    internal static byte[] Hex(string hex) => Convert.FromHexString(hex);

    internal static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n", "192.0.2.10:51000", "198.51.100.7:443", 46)]
    [InlineData("PROXY TCP6 2001:db8::1 2001:db8::2 51000 443\r\n", "[2001:db8::1]:51000", "[2001:db8::2]:443", 46)]
    [InlineData("PROXY TCP4 127.0.0.1 127.0.0.2 41090 80\r\n", "127.0.0.1:41090", "127.0.0.2:80", 41)]
    [InlineData("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "0.0.0.0:0", "255.255.255.255:65535", 44)]
    [InlineData("PROXY TCP6 ::ffff:192.0.2.10 2001:db8::2 1 2\r\n", "[::ffff:192.0.2.10]:1", "[2001:db8::2]:2", 46)]
    public void V1_vectors_give_their_addresses(string line, string source, string destination, int length)
    {
        var parse = ProxyProtocolParser.Parse(Ascii(line + "payload"));
        Assert.Equal(ProxyProtocolStatus.Header, parse.Status);
        Assert.Equal(length, parse.Length);
        Assert.Equal(IPEndPoint.Parse(source), parse.Header!.Source);
        Assert.Equal(IPEndPoint.Parse(destination), parse.Header.Destination);
        Assert.Equal(ProxyCommand.Proxy, parse.Header.Command);
        Assert.True(parse.Header.HasAddresses);
        Assert.Equal(1, parse.Header.Version);
    }

    [Theory]
    [InlineData("0d0a0d0a000d0a515549540a2111000cc000020ac6336407c73801bb", "192.0.2.10:51000", "198.51.100.7:443")]
    [InlineData("0d0a0d0a000d0a515549540a2111000c7f0000017f000002a0860050", "127.0.0.1:41094", "127.0.0.2:80")]
    public void V2_vectors_give_their_addresses(string hex, string source, string destination)
    {
        var bytes = Hex(hex);
        Assert.Equal(28, bytes.Length);
        var parse = ProxyProtocolParser.Parse([.. bytes, 0x16, 0x03, 0x01]);
        Assert.Equal(ProxyProtocolStatus.Header, parse.Status);
        Assert.Equal(28, parse.Length);
        Assert.Equal(IPEndPoint.Parse(source), parse.Header!.Source);
        Assert.Equal(IPEndPoint.Parse(destination), parse.Header.Destination);
        Assert.Equal((2, ProxyCommand.Proxy, ProxyAddressFamily.Inet, ProxyTransport.Stream), (parse.Header.Version, parse.Header.Command, parse.Header.Family, parse.Header.Transport));
    }

    [Fact]
    public void V2_IPv6_is_52_bytes()
    {
        var bytes = Hex("0d0a0d0a000d0a515549540a" + "2121" + "0024" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "c738" + "01bb");
        Assert.Equal(52, bytes.Length);
        var parse = ProxyProtocolParser.Parse(bytes);
        Assert.Equal(ProxyProtocolStatus.Header, parse.Status);
        Assert.Equal(52, parse.Length);
        Assert.Equal(IPEndPoint.Parse("[2001:db8::1]:51000"), parse.Header!.Source);
        Assert.Equal(IPEndPoint.Parse("[2001:db8::2]:443"), parse.Header.Destination);
    }

    [Fact]
    public void V1_UNKNOWN_has_no_addresses_and_ignores_the_rest_of_its_line()
    {
        foreach (var line in new[] { "PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n" })
        {
            var parse = ProxyProtocolParser.Parse(Ascii(line + "x"));
            Assert.Equal(ProxyProtocolStatus.Header, parse.Status);
            Assert.Equal(line.Length, parse.Length);
            Assert.Equal(ProxyAddressFamily.Unspecified, parse.Header!.Family);
            Assert.False(parse.Header.HasAddresses);
        }
    }

    [Fact]
    public void V2_LOCAL_and_AF_UNSPEC_have_no_addresses()
    {
        var local = ProxyProtocolParser.Parse(Hex("0d0a0d0a000d0a515549540a" + "2000" + "0000"));
        Assert.Equal((ProxyProtocolStatus.Header, 16), (local.Status, local.Length));
        Assert.Equal(ProxyCommand.Local, local.Header!.Command);
        Assert.False(local.Header.HasAddresses);

        // LOCAL with an address block: the addresses are there but must be ignored.
        var localInet = ProxyProtocolParser.Parse(Hex("0d0a0d0a000d0a515549540a2011000cc000020ac6336407c73801bb"));
        Assert.Equal(ProxyProtocolStatus.Header, localInet.Status);
        Assert.False(localInet.Header!.HasAddresses);

        var unspec = ProxyProtocolParser.Parse(Hex("0d0a0d0a000d0a515549540a" + "2100" + "0000"));
        Assert.Equal(ProxyProtocolStatus.Header, unspec.Status);
        Assert.Equal(ProxyCommand.Proxy, unspec.Header!.Command);
        Assert.False(unspec.Header.HasAddresses);
    }

    [Fact]
    public void V2_TLVs_are_skipped_when_they_fit_exactly()
    {
        // An AWS-style TLV (0xEA, 5 bytes) and a NOOP (0x04, 0 bytes) after the IPv4 block: length 12 + 8 + 3.
        var bytes = Hex("0d0a0d0a000d0a515549540a" + "2111" + "0017" + "c000020ac6336407c73801bb" + "ea0005" + "0176706365" + "040000");
        var parse = ProxyProtocolParser.Parse([.. bytes, 0xAA]);
        Assert.Equal(ProxyProtocolStatus.Header, parse.Status);
        Assert.Equal(bytes.Length, parse.Length);
        Assert.Equal(IPEndPoint.Parse("192.0.2.10:51000"), parse.Header!.Source);
    }

    [Theory]
    [InlineData("2111000d" + "c000020ac6336407c73801bb" + "ea", "runs past")]          // one byte of a TLV header
    [InlineData("2111000f" + "c000020ac6336407c73801bb" + "ea0001", "runs past")]      // declared 1 byte, none left
    [InlineData("2111000f" + "c000020ac6336407c73801bb" + "ea0100", "runs past")]      // declared 256 bytes
    [InlineData("2111000b" + "c000020ac6336407c73801", "shorter than the address block")]
    [InlineData("2121000c" + "c000020ac6336407c73801bb", "shorter than the address block")]
    [InlineData("1111000c" + "c000020ac6336407c73801bb", "version")]
    [InlineData("3111000c" + "c000020ac6336407c73801bb", "version")]
    [InlineData("2211000c" + "c000020ac6336407c73801bb", "command")]
    [InlineData("2141000c" + "c000020ac6336407c73801bb", "family")]
    [InlineData("2113000c" + "c000020ac6336407c73801bb", "family")]
    public void Invalid_v2_headers_say_why(string afterSignature, string reason)
    {
        var parse = ProxyProtocolParser.Parse(Hex("0d0a0d0a000d0a515549540a" + afterSignature));
        Assert.Equal(ProxyProtocolStatus.Invalid, parse.Status);
        Assert.Contains(reason, parse.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.10 2001:db8::2 51000 443\r\n")] // ptw's mixed-family line
    [InlineData("PROXY TCP6 192.0.2.10 198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2.10  198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443 \r\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 51000\r\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443 1\r\n")]
    [InlineData("PROXY TCP4 192.0.2.010 198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2.256 198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2 198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 051000 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 65536 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 -1 443\r\n")]
    [InlineData("PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n")]
    [InlineData("PROXY TCP6 [2001:db8::1] 2001:db8::2 1 2\r\n")]
    [InlineData("PROXY tcp4 192.0.2.10 198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\n")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\rX")]
    [InlineData("PROXY TCP4 192.0.2.10\t198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY UDP4 192.0.2.10 198.51.100.7 51000 443\r\n")]
    [InlineData("PROXY \r\n")]
    [InlineData("PROXY UNKNOWN\u00e9\r\n")]
    public void Invalid_v1_lines_are_refused(string line)
    {
        Assert.Equal(ProxyProtocolStatus.Invalid, ProxyProtocolParser.Parse(Encoding.Latin1.GetBytes(line)).Status);
    }

    [Fact]
    public void V1_is_at_most_107_bytes()
    {
        // The longest valid line: full-length IPv6 addresses and five-digit ports, 104 bytes; padding UNKNOWN to 107 still passes.
        var unknown107 = "PROXY UNKNOWN " + new string('a', 107 - 16) + "\r\n";
        Assert.Equal(107, unknown107.Length);
        Assert.Equal((ProxyProtocolStatus.Header, 107), (ProxyProtocolParser.Parse(Ascii(unknown107)).Status, ProxyProtocolParser.Parse(Ascii(unknown107)).Length));

        var unknown108 = "PROXY UNKNOWN " + new string('a', 108 - 16) + "\r\n";
        Assert.Equal(ProxyProtocolStatus.Invalid, ProxyProtocolParser.Parse(Ascii(unknown108)).Status);

        // No CRLF yet: waits up to 106 bytes, refuses at 107 without waiting for more.
        Assert.Equal(ProxyProtocolStatus.NeedMoreData, ProxyProtocolParser.Parse(Ascii(unknown108[..106])).Status);
        Assert.Equal(ProxyProtocolStatus.Invalid, ProxyProtocolParser.Parse(Ascii(unknown108[..107])).Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("P")]
    [InlineData("PROXY")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51")]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r")]
    public void Prefixes_of_v1_wait(string text) =>
        Assert.Equal(ProxyProtocolStatus.NeedMoreData, ProxyProtocolParser.Parse(Ascii(text)).Status);

    [Fact]
    public void Prefixes_of_v2_wait_including_the_TLVs()
    {
        var bytes = Hex("0d0a0d0a000d0a515549540a" + "2111" + "0017" + "c000020ac6336407c73801bb" + "ea0005" + "0176706365" + "040000");
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.Equal(ProxyProtocolStatus.NeedMoreData, ProxyProtocolParser.Parse(bytes.AsSpan(0, n)).Status);
        }
    }

    [Theory]
    [InlineData("16030100")]        // a TLS record
    [InlineData("474554202f20")]    // GET /
    [InlineData("50524f5859")]      // "PROXY" without its space, then…
    [InlineData("0d0a0d0a000d0a5155495420")]
    [InlineData("0a")]
    public void Other_protocols_are_absent_not_invalid(string hex)
    {
        var bytes = Hex(hex);
        var expected = hex == "50524f5859" ? ProxyProtocolStatus.NeedMoreData : ProxyProtocolStatus.Absent;
        Assert.Equal(expected, ProxyProtocolParser.Parse(bytes).Status);
        if (hex == "50524f5859")
        {
            Assert.Equal(ProxyProtocolStatus.Absent, ProxyProtocolParser.Parse([.. bytes, (byte)'X']).Status);
        }
    }
}
