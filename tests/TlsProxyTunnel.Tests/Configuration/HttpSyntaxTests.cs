using System.Text;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class HttpSyntaxTests
{
    // RFC 9110 section 5.6.2, spelled out independently of the implementation.
    private static bool IsTchar(int c) =>
        c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9'
        || "!#$%&'*+-.^_`|~".Contains((char)c, StringComparison.Ordinal);

    [Fact]
    public void Every_byte_is_a_token_char_exactly_when_RFC_9110_says_so_for_bytes_and_chars_alike()
    {
        for (var c = 0; c < 256; c++)
        {
            var expected = IsTchar(c);
            Assert.Equal(expected, HttpSyntax.IsTokenChar((byte)c));
            Assert.Equal(expected, HttpSyntax.IsToken([(byte)c]));
            Assert.Equal(expected, HttpSyntax.IsToken(((char)c).ToString()));
        }
    }

    [Theory]
    [InlineData("", false)]
    [InlineData("X-Forwarded-For", true)]
    [InlineData("Proxy Authorization", false)]
    [InlineData("Host:", false)]
    [InlineData("na\u00efve", false)]
    public void Strings_and_their_bytes_get_the_same_answer(string text, bool expected)
    {
        Assert.Equal(expected, HttpSyntax.IsToken(text));
        Assert.Equal(expected, HttpSyntax.IsToken(Encoding.UTF8.GetBytes(text)));
    }
}
