using TlsProxyTunnel.Tests.Infrastructure;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Upstreams.Health;

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

    /// <summary>
    /// A Complete head ends at the input's first CRLF CRLF and parses to the same request alone, from a copy, or
    /// with a body after it; waiting means no head end yet and room left; a prefix either waits or already gives
    /// the whole's verdict.
    /// </summary>
    [Fact]
    public void Mutated_truncated_and_random_requests_get_the_verdict_their_head_end_and_prefixes_give()
    {
        var random = new Random(Seed);
        var verdicts = new HashSet<HealthParseOutcome>();
        foreach (var input in MutatedInputs.Generate(random, Valid, 20_000, static r => r.Next(4) switch { 0 => (byte)'\r', 1 => (byte)'\n', 2 => (byte)':', _ => (byte)r.Next(256) }))
        {
            var length = input.Count;
            var max = random.Next(0, 6) == 0 ? random.Next(0, 80) : 8192;
            var outcome = HealthRequestParser.Parse(input.AsSpan(), max, out var request);
            verdicts.Add(outcome);
            var copy = input.AsSpan().ToArray();
            var headEnd = copy.AsSpan().IndexOf("\r\n\r\n"u8);
            switch (outcome)
            {
                case HealthParseOutcome.Complete:
                    Assert.InRange(request.HeadLength, 4, Math.Min(length, max));
                    Assert.Equal(headEnd + 4, request.HeadLength);
                    Assert.Equal(HealthParseOutcome.Complete, HealthRequestParser.Parse(copy.AsSpan(0, request.HeadLength), max, out var alone));
                    Assert.Equal(request, alone);
                    byte[] withBody = [.. copy, .. "body\r\n\r\n"u8];
                    Assert.Equal(HealthParseOutcome.Complete, HealthRequestParser.Parse(withBody, max, out var withMore));
                    Assert.Equal(request, withMore);
                    break;
                case HealthParseOutcome.NeedMoreData:
                    Assert.True(headEnd < 0, "waiting although the head has ended");
                    Assert.True(length < max, "waiting although the limit was reached");
                    break;
                case HealthParseOutcome.TooLarge:
                    Assert.True(headEnd < 0 ? length >= max : headEnd + 4 > max, "too large within the limit");
                    break;
                default:
                    Assert.Equal(HealthParseOutcome.Malformed, outcome);
                    break;
            }

            var cut = random.Next(0, length + 1);
            var early = HealthRequestParser.Parse(copy.AsSpan(0, cut), max, out var earlyRequest);
            // One known difference, both refusals: with no head end in sight the size limit is checked before the
            // request line, so a bad line is Malformed while short and TooLarge once the limit is reached.
            var sameRefusal = early == HealthParseOutcome.Malformed && outcome == HealthParseOutcome.TooLarge;
            Assert.True(early == HealthParseOutcome.NeedMoreData || early == outcome || sameRefusal, $"a {cut}-byte prefix gave {early}, the {length} bytes {outcome}");
            if (early == HealthParseOutcome.Complete)
            {
                Assert.Equal(request, earlyRequest);
            }
        }

        Assert.Equal(Enum.GetValues<HealthParseOutcome>().Order(), verdicts.Order());
    }

    [Fact]
    public void Every_prefix_of_a_valid_request_needs_more_data()
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
