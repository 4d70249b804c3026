using System.Text;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Upstreams.Health;

public sealed class HealthRequestParserTests
{
    [Theory]
    [InlineData("GET /status HTTP/1.1", "status", false)]
    [InlineData("GET /status?format=json HTTP/1.1", "status", true)]
    [InlineData("GET /status?x=1&format=json&y HTTP/1.1", "status", true)]
    [InlineData("GET /status?format=JSON HTTP/1.1", "status", true)]
    [InlineData("GET /status?format=html HTTP/1.1", "status", false)]
    [InlineData("GET /status?format=jsonx HTTP/1.1", "status", false)]
    [InlineData("GET /status?xformat=json HTTP/1.1", "status", false)]
    [InlineData("HEAD /status?format=json HTTP/1.1", "status", true)]
    [InlineData("GET /statusx HTTP/1.1", "other", false)]
    [InlineData("GET /metrics?format=json HTTP/1.1", "metrics", true)]
    public void The_path_and_the_format_come_from_the_target(string requestLine, string path, bool json)
    {
        var head = Encoding.ASCII.GetBytes(requestLine + "\r\nHost: x\r\n\r\n");
        Assert.Equal(HealthParseOutcome.Complete, HealthRequestParser.Parse(head, 8192, out var request));
        Assert.Equal(path, request.Path.ToString().ToLowerInvariant());
        Assert.Equal(json, request.Json);
        Assert.Equal(requestLine.StartsWith("HEAD", StringComparison.Ordinal), request.IsHead);
    }
}
