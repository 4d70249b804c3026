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
    public void Random_chunkings_strict_prefixes_wait_full_hello_gives_same_SNI(string kind, string host)
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
    public void Random_record_fragmentation_gives_same_SNI(string kind, string host)
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

    /// <summary>
    /// Judged against the unmutated hello: an untouched prefix waits and the untouched whole gives its name. A
    /// verdict comes from the bytes alone (a copy gives the same), never changes as more bytes arrive, a found
    /// name is bytes the records carry, and intact record and handshake headers are never called not-TLS.
    /// </summary>
    [Theory]
    [MemberData(nameof(Hellos))]
    public void Random_mutations_agree_with_the_unmutated_hello_and_with_their_own_prefixes(string kind, string host)
    {
        var random = new Random(Seed);
        var original = ClientHelloBuilder.Frame(Message(kind, host), 97);
        var buffer = new byte[original.Length];
        Span<byte> name = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        Span<byte> again = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        var verdicts = new HashSet<ClientHelloOutcome>();
        for (var round = 0; round < 2000; round++)
        {
            original.CopyTo(buffer, 0);
            var flips = random.Next(0, 4) == 0 ? 0 : random.Next(1, 4);
            for (var i = 0; i < flips; i++)
            {
                buffer[random.Next(buffer.Length)] = (byte)random.Next(256);
            }

            var length = random.Next(0, 3) == 0 ? buffer.Length : random.Next(0, buffer.Length + 1);
            var maxBytes = random.Next(0, 8) == 0 ? random.Next(0, 2000) : 16384;
            var input = buffer.AsSpan(0, length);
            var outcome = ClientHelloParser.Parse(input, name, out var nameLength, maxBytes);
            verdicts.Add(outcome);

            Assert.InRange(nameLength, outcome == ClientHelloOutcome.SniFound ? 1 : 0, outcome == ClientHelloOutcome.SniFound ? 255 : 0);
            if (outcome == ClientHelloOutcome.SniFound)
            {
                // Records are 97 bytes after a 5-byte header: the name is in what they carry.
                var carried = new List<byte>();
                for (var at = 5; at < length; at += 102)
                {
                    carried.AddRange(input[at..Math.Min(length, at + 97)]);
                }

                Assert.True(carried.ToArray().AsSpan().IndexOf(name[..nameLength]) >= 0, "the name is not in the input");
            }

            var copy = input.ToArray();
            Assert.Equal(outcome, ClientHelloParser.Parse(copy, again, out var againLength, maxBytes));
            Assert.True(name[..nameLength].SequenceEqual(again[..againLength]));

            var cut = random.Next(0, length + 1);
            var early = ClientHelloParser.Parse(copy.AsSpan(0, cut), again, out _, maxBytes);
            Assert.True(early == ClientHelloOutcome.NeedMoreData || early == outcome, $"a {cut}-byte prefix gave {early}, the {length} bytes {outcome}");

            if (length >= 6 && input[..6].SequenceEqual(original.AsSpan(0, 6)))
            {
                Assert.NotEqual(ClientHelloOutcome.NotTls, outcome);
            }

            if (input.SequenceEqual(original.AsSpan(0, length)) && maxBytes >= original.Length)
            {
                var expected = length == original.Length ? (ClientHelloOutcome.SniFound, host) : (ClientHelloOutcome.NeedMoreData, null);
                Assert.Equal(expected, (outcome, outcome == ClientHelloOutcome.SniFound ? System.Text.Encoding.ASCII.GetString(name[..nameLength]) : null));
            }
        }

        // The mutations reach more than one verdict, or the checks above prove little.
        Assert.Contains(ClientHelloOutcome.SniFound, verdicts);
        Assert.Contains(ClientHelloOutcome.NeedMoreData, verdicts);
        Assert.Contains(ClientHelloOutcome.Malformed, verdicts);
    }

    [Fact]
    public void Random_bytes_never_throw()
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
    public void Parse_does_not_allocate()
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
