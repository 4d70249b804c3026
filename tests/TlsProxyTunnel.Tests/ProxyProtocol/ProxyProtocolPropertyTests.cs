using System.Net;
using TlsProxyTunnel.ProxyProtocol;

namespace TlsProxyTunnel.Tests.ProxyProtocol;

/// <summary>
/// Bounded, seeded random checks: what the writer writes the parser reads back; no input throws; a verdict is the
/// bytes' alone and never changes as more bytes arrive; a header never claims more bytes than it was given.
/// </summary>
public sealed class ProxyProtocolPropertyTests
{
    private const int Seed = 20261130;

    private static IPEndPoint RandomEndPoint(Random random)
    {
        var bytes = new byte[random.Next(2) == 0 ? 4 : 16];
        random.NextBytes(bytes);
        if (bytes.Length == 16 && random.Next(4) == 0)
        {
            // Some IPv4-mapped ones, as a dual-stack listener reports IPv4 clients.
            Array.Clear(bytes, 0, 10);
            bytes[10] = bytes[11] = 0xFF;
        }

        return new IPEndPoint(new IPAddress(bytes), random.Next(0, 65536));
    }

    private static IPAddress Canonical(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    [Fact]
    public void Written_headers_parse_back_to_the_same_ends_in_one_family()
    {
        var random = new Random(Seed);
        for (var round = 0; round < 3000; round++)
        {
            var source = RandomEndPoint(random);
            var target = RandomEndPoint(random);
            var version = random.Next(2) == 0 ? ProxyProtocolVersion.V1 : ProxyProtocolVersion.V2;
            var header = ProxyProtocolWriter.Create(version, source, target);
            var trailing = new byte[random.Next(0, 4)];
            random.NextBytes(trailing);

            var parse = ProxyProtocolParser.Parse([.. header, .. trailing]);
            Assert.Equal(ProxyProtocolStatus.Header, parse.Status);
            Assert.Equal(header.Length, parse.Length);
            Assert.Equal(version == ProxyProtocolVersion.V1 ? 1 : 2, parse.Header!.Version);
            Assert.Equal(parse.Header.Source!.AddressFamily, parse.Header.Destination!.AddressFamily);
            Assert.Equal(Canonical(source.Address), Canonical(parse.Header.Source.Address));
            Assert.Equal(Canonical(target.Address), Canonical(parse.Header.Destination.Address));
            Assert.Equal((source.Port, target.Port), (parse.Header.Source.Port, parse.Header.Destination.Port));

            // Both IPv4 at heart: written as IPv4, never as TCP6.
            var bothV4 = Canonical(source.Address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                && Canonical(target.Address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
            Assert.Equal(bothV4 ? ProxyAddressFamily.Inet : ProxyAddressFamily.Inet6, parse.Header.Family);

            // Every strict prefix waits.
            var cut = random.Next(0, header.Length);
            Assert.Equal(ProxyProtocolStatus.NeedMoreData, ProxyProtocolParser.Parse(header.AsSpan(0, cut)).Status);
        }
    }

    /// <summary>
    /// Mutated valid headers (v1 and v2 with TLVs): any verdict is possible, but a prefix's verdict is NeedMoreData or
    /// the whole's; a header claims no more than the bytes given and, for v1, no more than 107; an untouched header
    /// still parses; and a copy parses the same.
    /// </summary>
    [Fact]
    public void Random_mutations_never_throw_and_agree_with_their_own_prefixes()
    {
        var random = new Random(Seed);
        var originals = new[]
        {
            ProxyProtocolParserTests.Ascii("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n"),
            ProxyProtocolParserTests.Ascii("PROXY TCP6 2001:db8::1 2001:db8::2 51000 443\r\n"),
            ProxyProtocolParserTests.Ascii("PROXY UNKNOWN\r\n"),
            ProxyProtocolParserTests.Hex("0d0a0d0a000d0a515549540a2111000cc000020ac6336407c73801bb"),
            ProxyProtocolParserTests.Hex("0d0a0d0a000d0a515549540a" + "2111" + "0017" + "c000020ac6336407c73801bb" + "ea0005" + "0176706365" + "040000"),
            ProxyProtocolWriter.Create(ProxyProtocolVersion.V2, IPEndPoint.Parse("[2001:db8::1]:1"), IPEndPoint.Parse("[2001:db8::2]:2")),
            ProxyProtocolParserTests.Hex("0d0a0d0a000d0a515549540a20000000"),
        };
        var verdicts = new HashSet<ProxyProtocolStatus>();
        for (var round = 0; round < 20000; round++)
        {
            var original = originals[random.Next(originals.Length)];
            var buffer = new byte[original.Length + random.Next(0, 8)];
            original.CopyTo(buffer, 0);
            random.NextBytes(buffer.AsSpan(original.Length));
            var flips = random.Next(0, 4) == 0 ? 0 : random.Next(1, 4);
            for (var i = 0; i < flips; i++)
            {
                buffer[random.Next(buffer.Length)] = random.Next(3) == 0 ? (byte)random.Next(0x20, 0x7F) : (byte)random.Next(256);
            }

            var length = random.Next(0, 3) == 0 ? buffer.Length : random.Next(0, buffer.Length + 1);
            var input = buffer.AsSpan(0, length);
            var parse = ProxyProtocolParser.Parse(input);
            verdicts.Add(parse.Status);

            Assert.Equal(parse, ProxyProtocolParser.Parse(input.ToArray()));
            Assert.Equal(parse.Status == ProxyProtocolStatus.Invalid, parse.Reason is not null);
            Assert.Equal(parse.Status == ProxyProtocolStatus.Header, parse.Header is not null);
            if (parse.Status == ProxyProtocolStatus.Header)
            {
                Assert.InRange(parse.Length, ProxyProtocolParser.V2FixedLength - 1, length);
                if (parse.Header!.Version == 1)
                {
                    Assert.InRange(parse.Length, 15, ProxyProtocolParser.MaxV1Length);
                    Assert.Equal((byte)'\n', input[parse.Length - 1]);
                }

                Assert.Equal(parse.Header.Source is null, parse.Header.Destination is null);
                if (parse.Header.Source is { } s)
                {
                    Assert.Equal(s.AddressFamily, parse.Header.Destination!.AddressFamily);
                }

                // The bytes after the header do not change it.
                var header = ProxyProtocolParser.Parse(input[..parse.Length]);
                Assert.Equal((parse.Status, parse.Length), (header.Status, header.Length));
            }

            var cut = random.Next(0, length + 1);
            var early = ProxyProtocolParser.Parse(input[..cut]);
            Assert.True(early.Status == ProxyProtocolStatus.NeedMoreData || early.Status == parse.Status, $"a {cut}-byte prefix gave {early.Status}, the {length} bytes {parse.Status}");
            if (early.Status == ProxyProtocolStatus.Header)
            {
                Assert.Equal(early.Length, parse.Length);
            }

            if (flips == 0 && length >= original.Length)
            {
                Assert.Equal((ProxyProtocolStatus.Header, original.Length), (parse.Status, parse.Length));
            }
        }

        // The mutations reach every verdict, or the checks above prove little.
        Assert.Equal(4, verdicts.Count);
    }

    [Fact]
    public void Random_bytes_never_throw_and_mostly_are_absent()
    {
        var random = new Random(Seed);
        var buffer = new byte[300];
        var absent = 0;
        for (var round = 0; round < 5000; round++)
        {
            random.NextBytes(buffer);
            var length = random.Next(0, buffer.Length + 1);
            var parse = ProxyProtocolParser.Parse(buffer.AsSpan(0, length));
            if (parse.Status == ProxyProtocolStatus.Absent)
            {
                absent++;
            }
            else
            {
                Assert.True(length == 0 || buffer[0] is (byte)'P' or 0x0D, "only a PROXY or v2 signature start can be anything but absent");
            }
        }

        Assert.InRange(absent, 4500, 5000);
    }

    [Fact]
    public void Signature_followed_by_random_bytes_never_throws()
    {
        var random = new Random(Seed);
        var verdicts = new HashSet<ProxyProtocolStatus>();
        for (var round = 0; round < 5000; round++)
        {
            var tail = new byte[random.Next(0, 600)];
            random.NextBytes(tail);
            if (tail.Length >= 4)
            {
                tail[0] = (byte)(random.Next(2) == 0 ? 0x21 : tail[0]);
                tail[1] = (byte)(random.Next(2) == 0 ? 0x11 : tail[1]);
                tail[2] = (byte)(random.Next(2) == 0 ? 0 : tail[2]);
                tail[3] = (byte)(random.Next(2) == 0 ? 12 : tail[3]); // exactly an IPv4 block, no TLVs
            }

            byte[] input = [.. ProxyProtocolParser.V2Signature, .. tail];
            var parse = ProxyProtocolParser.Parse(input);
            verdicts.Add(parse.Status);
            Assert.NotEqual(ProxyProtocolStatus.Absent, parse.Status);
            if (parse.Status == ProxyProtocolStatus.Header)
            {
                Assert.Equal(16 + ((input[14] << 8) | input[15]), parse.Length);
            }
        }

        Assert.Contains(ProxyProtocolStatus.Header, verdicts);
        Assert.Contains(ProxyProtocolStatus.Invalid, verdicts);
        Assert.Contains(ProxyProtocolStatus.NeedMoreData, verdicts);
    }
}
