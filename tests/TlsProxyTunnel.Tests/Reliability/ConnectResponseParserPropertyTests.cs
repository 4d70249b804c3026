using System.Text;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Tests.Reliability;

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

    [Fact]
    public void MutatedTruncatedAndRandomResponses_NeverThrow_StayWithinInput()
    {
        var random = new Random(Seed);
        foreach (var input in MutatedInputs.Generate(random, Valid, 20_000, Interesting))
        {
            var length = input.Count;
            var max = random.Next(0, 6) == 0 ? random.Next(0, 80) : ConnectResponseParser.DefaultMaxHeaderBytes;
            var outcome = ConnectResponseParser.Parse(input.AsSpan(), max, out var response);
            Assert.True(Enum.IsDefined(outcome));
            if (outcome == ConnectResponseOutcome.Complete)
            {
                Assert.InRange(response.HeaderLength, 1, Math.Min(length, max));
                Assert.InRange(response.StatusCode, 0, 999);
                var (offset, reasonLength) = response.Reason.GetOffsetAndLength(response.HeaderLength);
                Assert.True(offset >= 0 && reasonLength >= 0);
            }
            else
            {
                Assert.Equal(0, response.HeaderLength);
            }
        }
    }

    [Fact]
    public void EveryPrefixOfAValidResponse_NeedsMoreData_AndTheWholeIsComplete()
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
    public void InjectedControlBytesInHeaders_AreMalformed_NotComplete()
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
