using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Reliability;

/// <summary>Bounded, seeded random checks of the health endpoint's request parser.</summary>
public sealed class HealthRequestParserPropertyTests
{
    private const int Seed = 7_2026;

    private static readonly byte[][] Valid =
    [
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(),
        "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"u8.ToArray(),
        "HEAD /ready?x=1 HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(),
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nbody"u8.ToArray(),
    ];

    [Fact]
    public void MutatedTruncatedAndRandomRequests_NeverThrow_StayWithinInput()
    {
        var random = new Random(Seed);
        foreach (var input in MutatedInputs.Generate(random, Valid, 20_000, static r => r.Next(4) switch { 0 => (byte)'\r', 1 => (byte)'\n', 2 => (byte)':', _ => (byte)r.Next(256) }))
        {
            var length = input.Count;
            var max = random.Next(0, 6) == 0 ? random.Next(0, 80) : 8192;
            var outcome = HealthRequestParser.Parse(input.AsSpan(), max, out var request);
            Assert.True(Enum.IsDefined(outcome));
            if (outcome == HealthParseOutcome.Complete)
            {
                Assert.InRange(request.HeadLength, 4, Math.Min(length, max));
            }
        }
    }

    [Fact]
    public void EveryPrefixOfAValidRequest_NeedsMoreData()
    {
        foreach (var request in Valid)
        {
            var end = request.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
            for (var i = 0; i < end; i++)
            {
                Assert.Equal(HealthParseOutcome.NeedMoreData, HealthRequestParser.Parse(request.AsSpan(0, i), 8192, out _));
            }

            Assert.Equal(HealthParseOutcome.Complete, HealthRequestParser.Parse(request, 8192, out var parsed));
            Assert.Equal(end, parsed.HeadLength);
        }
    }
}
