using System.Text;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Tests.Upstreams.HttpConnect;

public sealed class ConnectResponseParserTests
{
    private const int Max = ConnectResponseParser.DefaultMaxHeaderBytes;

    [Theory]
    [InlineData("HTTP/1.1 200 Connection established\r\n\r\n", 200, "Connection established")]
    [InlineData("HTTP/1.1 200 \r\n\r\n", 200, "")]
    [InlineData("HTTP/1.1 200\r\n\r\n", 200, "")]
    [InlineData("HTTP/1.0 200 OK\r\n\r\n", 200, "OK")]
    [InlineData("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n", 407, "Proxy Authentication Required")]
    [InlineData("HTTP/1.1 200 OK\nVia: 1.1 p\n\n", 200, "OK")]
    [InlineData("HTTP/1.1 502 Bad\tGateway\r\nA: b\r\nC:\td\r\n\r\n", 502, "Bad\tGateway")]
    public void Good_responses_are_complete(string text, int status, string reason)
    {
        var data = Encoding.ASCII.GetBytes(text);

        var outcome = ConnectResponseParser.Parse(data, Max, out var response);

        Assert.Equal(ConnectResponseOutcome.Complete, outcome);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(data.Length, response.HeaderLength);
        Assert.Equal(reason, Encoding.ASCII.GetString(data.AsSpan()[response.Reason]));
    }

    [Theory]
    [InlineData("SSH-2.0-OpenSSH_9.2\r\n\r\n")]
    [InlineData("HTTP/2 200\r\n\r\n")]
    [InlineData("HTTP/1.2 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 20 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 2a0 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 abc OK\r\n\r\n")]
    [InlineData("HTTP/1.1200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1  200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200OK\r\n\r\n")]
    [InlineData("http/1.1 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200 O\u0001K\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\rX\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nA: \u0000\r\n\r\n")]
    [InlineData("\r\n\r\n")]
    public void Malformed_responses_are_rejected(string text)
    {
        Assert.Equal(ConnectResponseOutcome.Malformed, ConnectResponseParser.Parse(Encoding.ASCII.GetBytes(text), Max, out _));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1")]
    [InlineData("HTTP/1.1 2x")]
    [InlineData("HTTP/1.1 200\rX")]
    public void Malformed_status_lines_are_rejected_before_the_line_ends(string text)
    {
        Assert.Equal(ConnectResponseOutcome.Malformed, ConnectResponseParser.Parse(Encoding.ASCII.GetBytes(text), Max, out _));
    }

    [Fact]
    public void Every_prefix_of_a_valid_response_needs_more_data()
    {
        var data = Encoding.ASCII.GetBytes("HTTP/1.1 200 Connection established\r\nVia: 1.1 squid\r\nX-A: b\r\n\r\n");

        for (var i = 0; i < data.Length; i++)
        {
            Assert.Equal(ConnectResponseOutcome.NeedMoreData, ConnectResponseParser.Parse(data.AsSpan(0, i), Max, out _));
        }

        Assert.Equal(ConnectResponseOutcome.Complete, ConnectResponseParser.Parse(data, Max, out var response));
        Assert.Equal(data.Length, response.HeaderLength);
    }

    [Fact]
    public void Header_length_stops_at_the_first_blank_line_and_leaves_the_rest()
    {
        var head = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
        var data = Encoding.ASCII.GetBytes(head + "SSH-2.0-banner\r\n\r\nmore");

        Assert.Equal(ConnectResponseOutcome.Complete, ConnectResponseParser.Parse(data, Max, out var response));
        Assert.Equal(head.Length, response.HeaderLength);
        Assert.Equal("SSH-2.0-banner\r\n\r\nmore", Encoding.ASCII.GetString(data.AsSpan(response.HeaderLength)));
    }

    [Fact]
    public void A_header_block_without_end_within_the_cap_is_too_large()
    {
        var data = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nX-Pad: " + new string('a', 200));

        Assert.Equal(ConnectResponseOutcome.NeedMoreData, ConnectResponseParser.Parse(data, data.Length + 1, out _));
        Assert.Equal(ConnectResponseOutcome.TooLarge, ConnectResponseParser.Parse(data, data.Length, out _));
        Assert.Equal(ConnectResponseOutcome.TooLarge, ConnectResponseParser.Parse(data, 64, out _));
    }

    [Fact]
    public void A_status_line_longer_than_the_cap_is_too_large()
    {
        var data = Encoding.ASCII.GetBytes("HTTP/1.1 200 " + new string('a', 100));

        Assert.Equal(ConnectResponseOutcome.TooLarge, ConnectResponseParser.Parse(data, 50, out _));
    }

    [Fact]
    public void A_block_ending_exactly_at_the_cap_is_complete_and_one_byte_less_is_too_large()
    {
        var data = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nX: y\r\n\r\n");

        Assert.Equal(ConnectResponseOutcome.Complete, ConnectResponseParser.Parse(data, data.Length, out _));
        Assert.Equal(ConnectResponseOutcome.TooLarge, ConnectResponseParser.Parse(data, data.Length - 1, out _));
    }

    [Fact]
    public void Empty_input_needs_more_data()
    {
        Assert.Equal(ConnectResponseOutcome.NeedMoreData, ConnectResponseParser.Parse([], Max, out _));
    }
}
