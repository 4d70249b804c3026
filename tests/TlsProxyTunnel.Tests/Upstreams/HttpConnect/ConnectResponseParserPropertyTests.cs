using System.Text;
using TlsProxyTunnel.Tests.Infrastructure;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Tests.Upstreams.HttpConnect;

/// <summary>
/// Bounded, seeded random checks of the CONNECT response parser: random, truncated, mutated and re-chunked
/// responses never throw, never report a header longer than the input, and chunking never changes the verdict.
/// </summary>
public sealed class ConnectResponseParserPropertyTests
{
    private const int Seed = 7_2026;

    private static readonly byte[][] Valid =
    [
        "HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(),
        "HTTP/1.0 200 OK\r\nProxy-Agent: tinyproxy/1.11\r\n\r\nBKND:x\r\n"u8.ToArray(),
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n"u8.ToArray(),
        "HTTP/1.1 200\n\n"u8.ToArray(),
        "HTTP/1.1 502 Bad Gateway\r\nServer: squid\r\nX-Squid-Error: ERR_CONNECT_FAIL 111\r\n\r\n"u8.ToArray(),
    ];

    /// <summary>
    /// A Complete header ends at the input's first blank line and parses the same alone, from a copy, or with
    /// more bytes after it; a prefix either waits or already gives the whole's verdict (reading in pieces never
    /// decides differently); TooLarge only when the limit was reached.
    /// </summary>
    [Fact]
    public void Mutated_truncated_and_random_responses_get_the_verdict_their_blank_line_and_prefixes_give()
    {
        var random = new Random(Seed);
        var verdicts = new HashSet<ConnectResponseOutcome>();
        foreach (var input in MutatedInputs.Generate(random, Valid, 20_000, Interesting))
        {
            var length = input.Count;
            var max = random.Next(0, 6) == 0 ? random.Next(0, 80) : ConnectResponseParser.DefaultMaxHeaderBytes;
            var outcome = ConnectResponseParser.Parse(input.AsSpan(), max, out var response);
            verdicts.Add(outcome);
            var copy = input.AsSpan().ToArray();
            switch (outcome)
            {
                case ConnectResponseOutcome.Complete:
                    var end = response.HeaderLength;
                    Assert.InRange(end, 1, Math.Min(length, max));
                    Assert.InRange(response.StatusCode, 0, 999);
                    Assert.Equal(FirstBlankLineEnd(copy), end);
                    var (offset, reasonLength) = response.Reason.GetOffsetAndLength(end);
                    Assert.True(offset >= 0 && reasonLength >= 0);
                    Assert.Equal(ConnectResponseOutcome.Complete, ConnectResponseParser.Parse(copy.AsSpan(0, end), max, out var alone));
                    Assert.Equal((response.StatusCode, end, response.Reason), (alone.StatusCode, alone.HeaderLength, alone.Reason));
                    Assert.Equal(ConnectResponseOutcome.NeedMoreData, ConnectResponseParser.Parse(copy.AsSpan(0, end - 1), max, out _));
                    byte[] longer = [.. copy, .. "\x00garbage\r\n"u8];
                    Assert.Equal(ConnectResponseOutcome.Complete, ConnectResponseParser.Parse(longer, max, out var withMore));
                    Assert.Equal(end, withMore.HeaderLength);
                    break;
                case ConnectResponseOutcome.NeedMoreData:
                    Assert.True(length < max, "waiting although the limit was reached");
                    Assert.True(FirstBlankLineEnd(copy) < 0, "waiting although the header has ended");
                    Assert.Equal(0, response.HeaderLength);
                    break;
                case ConnectResponseOutcome.TooLarge:
                    Assert.True(max <= 0 || length >= max, "too large below the limit");
                    Assert.Equal(0, response.HeaderLength);
                    break;
                default:
                    Assert.Equal(ConnectResponseOutcome.Malformed, outcome);
                    Assert.Equal(0, response.HeaderLength);
                    break;
            }

            var cut = random.Next(0, length + 1);
            var early = ConnectResponseParser.Parse(copy.AsSpan(0, cut), max, out var earlyResponse);
            Assert.True(early == ConnectResponseOutcome.NeedMoreData || early == outcome, $"a {cut}-byte prefix gave {early}, the {length} bytes {outcome}");
            if (early == ConnectResponseOutcome.Complete)
            {
                Assert.Equal(response.HeaderLength, earlyResponse.HeaderLength);
            }
        }

        Assert.Equal(Enum.GetValues<ConnectResponseOutcome>().Order(), verdicts.Order());
    }

    /// <summary>The reference decision: where the first empty line (LF LF or LF CR LF) ends, or -1.</summary>
    private static int FirstBlankLineEnd(ReadOnlySpan<byte> data)
    {
        for (var i = data.IndexOf((byte)'\n'); i >= 0 && i + 1 < data.Length; i = data[(i + 1)..].IndexOf((byte)'\n') is var next and >= 0 ? i + 1 + next : -1)
        {
            if (data[i + 1] == (byte)'\n')
            {
                return i + 2;
            }

            if (data[i + 1] == (byte)'\r' && i + 2 < data.Length && data[i + 2] == (byte)'\n')
            {
                return i + 3;
            }
        }

        return -1;
    }

    [Fact]
    public void Every_prefix_of_a_valid_response_needs_more_data_and_the_whole_is_complete()
    {
        foreach (var response in Valid)
        {
            var end = Encoding.ASCII.GetString(response).Contains("\r\n\r\n", StringComparison.Ordinal)
                ? Encoding.ASCII.GetString(response).IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4
                : Encoding.ASCII.GetString(response).IndexOf("\n\n", StringComparison.Ordinal) + 2;
            for (var i = 0; i < end; i++)
            {
                Assert.Equal(ConnectResponseOutcome.NeedMoreData, ConnectResponseParser.Parse(response.AsSpan(0, i), 16384, out _));
            }

            Assert.Equal(ConnectResponseOutcome.Complete, ConnectResponseParser.Parse(response, 16384, out var parsed));
            Assert.Equal(end, parsed.HeaderLength);
        }
    }

    [Fact]
    public void Injected_control_bytes_in_headers_are_malformed_not_complete()
    {
        var random = new Random(Seed);
        var template = Valid[1];
        for (var round = 0; round < 2000; round++)
        {
            var bytes = (byte[])template.Clone();

            // Inside the header field line ("Proxy-Agent: ..."), away from its CRLF.
            var at = random.Next(17, 40);
            bytes[at] = random.Next(3) switch { 0 => (byte)'\r', 1 => 0, _ => (byte)random.Next(0x0e, 0x20) };
            Assert.Equal(ConnectResponseOutcome.Malformed, ConnectResponseParser.Parse(bytes, 16384, out _));
        }
    }

    private static byte Interesting(Random random) => random.Next(6) switch
    {
        0 => (byte)'\r',
        1 => (byte)'\n',
        2 => 0,
        3 => (byte)' ',
        4 => (byte)random.Next('0', '9' + 1),
        _ => (byte)random.Next(256),
    };
}
