using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Tests.Tls;

/// <summary>
/// Bounded, seeded random checks: the verdict must not depend on how bytes were chunked or
/// framed, and no mutation may crash the parser or produce an oversize name.
/// </summary>
public sealed class ClientHelloParserPropertyTests
{
    private const int Seed = 20260517;

    public static TheoryData<string, string> Hellos() => new()
    {
        { "real-517", "www.lirui.tech" },
        { "browser", "browser.example.com" },
        { "post-quantum", "pq.example.net" },
        { "long-name", new string('l', 60) + "." + new string('m', 60) + ".test" },
    };

    private static byte[] Message(string kind, string host) => kind switch
    {
        "real-517" => ClientHelloParserTests.RealVector().AsSpan(5).ToArray(),
        "browser" => ClientHelloBuilder.Browser(host).BuildMessage(),
        "post-quantum" => ClientHelloBuilder.PostQuantum(host).BuildMessage(),
        _ => ClientHelloBuilder.Browser(host).WithPaddingTo(512).BuildMessage(),
    };

    [Theory]
    [MemberData(nameof(Hellos))]
    public void RandomChunkings_StrictPrefixesWait_FullHelloGivesSameSni(string kind, string host)
    {
        var random = new Random(Seed);
        var hello = ClientHelloBuilder.Frame(Message(kind, host), 16384);
        for (var round = 0; round < 20; round++)
        {
            // A chunking is a growing sequence of prefix lengths, as successive reads would give.
            var received = 0;
            while (received < hello.Length)
            {
                received = Math.Min(hello.Length, received + random.Next(1, 200));
                var expected = received == hello.Length ? (ClientHelloOutcome.SniFound, host) : (ClientHelloOutcome.NeedMoreData, null);
                Assert.Equal(expected, ClientHelloParserTests.Parse(hello.AsSpan(0, received)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Hellos))]
    public void RandomRecordFragmentation_GivesSameSni(string kind, string host)
    {
        var random = new Random(Seed);
        var message = Message(kind, host);
        for (var round = 0; round < 50; round++)
        {
            var sizes = new List<int>();
            for (var left = message.Length; left > 0;)
            {
                var size = Math.Min(left, random.Next(0, 4) == 0 ? random.Next(1, 4) : random.Next(1, 700));
                sizes.Add(size);
                left -= size;
            }

            var version = (ushort)(0x0300 + random.Next(0, 5));
            var framed = ClientHelloBuilder.Frame(message, sizes, version);
            Assert.Equal((ClientHelloOutcome.SniFound, host), ClientHelloParserTests.Parse(framed));
            var cut = random.Next(0, framed.Length);
            Assert.Equal(ClientHelloOutcome.NeedMoreData, ClientHelloParserTests.Parse(framed.AsSpan(0, cut)).Outcome);
        }
    }

    [Theory]
    [MemberData(nameof(Hellos))]
    public void RandomMutations_NeverThrow_NeverReportOversizeName(string kind, string host)
    {
        var random = new Random(Seed);
        var original = ClientHelloBuilder.Frame(Message(kind, host), 97);
        var buffer = new byte[original.Length];
        Span<byte> name = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        for (var round = 0; round < 2000; round++)
        {
            original.CopyTo(buffer, 0);
            var flips = random.Next(1, 4);
            for (var i = 0; i < flips; i++)
            {
                buffer[random.Next(buffer.Length)] = (byte)random.Next(256);
            }

            var length = random.Next(0, buffer.Length + 1);
            var maxBytes = random.Next(0, 8) == 0 ? random.Next(0, 2000) : 16384;
            var outcome = ClientHelloParser.Parse(buffer.AsSpan(0, length), name, out var nameLength, maxBytes);
            Assert.True(Enum.IsDefined(outcome));
            Assert.InRange(nameLength, outcome == ClientHelloOutcome.SniFound ? 1 : 0, outcome == ClientHelloOutcome.SniFound ? 255 : 0);
        }
    }

    [Fact]
    public void RandomBytes_NeverThrow()
    {
        var random = new Random(Seed);
        var buffer = new byte[3000];
        Span<byte> name = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        for (var round = 0; round < 2000; round++)
        {
            random.NextBytes(buffer);

            // Keep a plausible record header often enough to reach the deeper code paths.
            if (round % 2 == 0)
            {
                buffer[0] = 0x16;
                buffer[1] = 0x03;
                buffer[2] = (byte)random.Next(0, 5);
                buffer[5] = 0x01;
                buffer[6] = 0x00;
            }

            var outcome = ClientHelloParser.Parse(buffer.AsSpan(0, random.Next(0, buffer.Length)), name, out var nameLength);
            Assert.InRange(nameLength, 0, outcome == ClientHelloOutcome.SniFound ? 255 : 0);
        }
    }

    [Fact]
    public void Parse_DoesNotAllocate()
    {
        var hello = ClientHelloBuilder.PostQuantum("alloc.test").Build();
        var fragmented = ClientHelloBuilder.Frame(ClientHelloBuilder.Browser("alloc.test").BuildMessage(), 3);
        Span<byte> name = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        ClientHelloParser.Parse(hello, name, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            ClientHelloParser.Parse(hello, name, out _);
            ClientHelloParser.Parse(fragmented, name, out _);
            ClientHelloParser.Parse(hello.AsSpan(0, 700), name, out _);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
