using System.Text;
using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Tests.Routing;

public sealed class HostNameTests
{
    private static string? NormalizeBytes(string raw) => NormalizeBytes(Encoding.Latin1.GetBytes(raw));

    private static string? NormalizeBytes(byte[] raw)
    {
        Span<char> destination = stackalloc char[HostName.MaxLength];
        return HostName.TryNormalize(raw, destination, out var length) ? new string(destination[..length]) : null;
    }

    private static string? NormalizeString(string raw) => HostName.TryNormalize(raw, out var normalized) ? normalized : null;

    /// <summary>Both entry points must agree on every input.</summary>
    private static void AssertNormalizes(string raw, string? expected)
    {
        Assert.Equal(expected, NormalizeBytes(raw));
        Assert.Equal(expected, NormalizeString(raw));
    }

    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("LOCALHOST", "localhost")]
    [InlineData("Mixed.Case.Example.COM", "mixed.case.example.com")]
    [InlineData("example.com.", "example.com")]
    [InlineData("under_score.example", "under_score.example")]
    [InlineData("xn--bcher-kva.example", "xn--bcher-kva.example")]
    [InlineData("a-b.c-d.e", "a-b.c-d.e")]
    [InlineData("localhost", "localhost")]
    [InlineData("1.2.3.example", "1.2.3.example")]
    [InlineData("host1.2example", "host1.2example")]
    public void Valid(string raw, string expected) => AssertNormalizes(raw, expected);

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("example.com..")]
    [InlineData(".example.com")]
    [InlineData("a..b")]
    [InlineData("local\0ost")]
    [InlineData("a b.test")]
    [InlineData("a\r\nb.test")]
    [InlineData("a\nb.test")]
    [InlineData("*")]
    [InlineData("*.example.com")]
    [InlineData("example.com:443")]
    [InlineData("a/b.test")]
    [InlineData("user@a.test")]
    [InlineData("a%2e.test")]
    [InlineData("[::1]")]
    [InlineData("::1")]
    [InlineData("[long.long.long]")]
    [InlineData("1.2.3.4")]
    [InlineData("127.0.0.1.")]
    [InlineData("127.1")]
    [InlineData("2130706433")]
    [InlineData("b\u00fccher.example")]
    public void Invalid(string raw) => AssertNormalizes(raw, null);

    [Fact]
    public void Non_ascii_UTF_8_bytes_invalid() => Assert.Null(NormalizeBytes(Encoding.UTF8.GetBytes("bücher.example")));

    [Fact]
    public void Label_of_63_valid_64_invalid()
    {
        AssertNormalizes(new string('a', 63) + ".test", new string('a', 63) + ".test");
        AssertNormalizes(new string('a', 64) + ".test", null);
        AssertNormalizes("test." + new string('a', 64), null);
    }

    [Fact]
    public void Length_253_valid_254_invalid_trailing_dot_not_counted()
    {
        var name253 = Name(253);
        Assert.Equal(253, name253.Length);
        AssertNormalizes(name253, name253);
        AssertNormalizes(name253 + ".", name253);
        AssertNormalizes(Name(254), null);
        AssertNormalizes(Name(255), null);
        AssertNormalizes(Name(248), Name(248));
    }

    [Fact]
    public void Byte_overload_rejects_destination_too_small()
    {
        Span<char> small = stackalloc char[5];
        Assert.False(HostName.TryNormalize("example.com"u8, small, out var length));
        Assert.Equal(0, length);
    }

    [Fact]
    public void Byte_overload_does_not_allocate()
    {
        Span<char> destination = stackalloc char[HostName.MaxLength];
        HostName.TryNormalize("Warm.Up.Example"u8, destination, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            HostName.TryNormalize("WWW.Example.COM."u8, destination, out _);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void String_overload_returns_same_instance_when_already_normalized()
    {
        var name = "already.normal";
        Assert.True(HostName.TryNormalize(name, out var normalized));
        Assert.Same(name, normalized);
    }

    [Fact]
    public void String_overload_null_is_invalid()
    {
        Assert.False(HostName.TryNormalize((string)null!, out var normalized));
        Assert.Equal(string.Empty, normalized);
    }

    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("Example.COM.", "example.com")]
    [InlineData("*.example.com", "*.example.com")]
    [InlineData("*.Example.Com.", "*.example.com")]
    [InlineData("*.com", "*.com")]
    public void Valid_patterns(string pattern, string expected)
    {
        Assert.True(HostName.IsValidPattern(pattern, out var normalized));
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("*")]
    [InlineData("*.")]
    [InlineData("*example.com")]
    [InlineData("a.*.example.com")]
    [InlineData("example.*")]
    [InlineData("*.*.example.com")]
    [InlineData("**.example.com")]
    [InlineData("*.1.2.3.4")]
    [InlineData("")]
    [InlineData("bad name")]
    public void Invalid_patterns(string pattern)
    {
        Assert.False(HostName.IsValidPattern(pattern, out var normalized));
        Assert.Equal(string.Empty, normalized);
    }

    /// <summary>A valid name of exactly <paramref name="length"/> chars built from 50-char labels.</summary>
    private static string Name(int length)
    {
        var builder = new StringBuilder();
        while (builder.Length < length)
        {
            if (builder.Length > 0)
            {
                builder.Append('.');
            }

            builder.Append('a', Math.Min(50, Math.Max(1, length - builder.Length)));
        }

        return builder.ToString();
    }
}
