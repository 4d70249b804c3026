using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Hosting;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Hosting;

/// <summary>TPT_ENGINE, the process default engine (issue #16): read with TPT_LOG, refused before anything is bound.</summary>
public sealed class EngineEnvironmentTests
{
    private static async Task<(EngineChoice Choice, bool Failed, string Stderr)> ReadAsync(string? value, bool linuxSupported = true)
    {
        using var stderr = new StringWriter();
        var (choice, failed) = await TptApp.EnvironmentEngineAsync(name => name == "TPT_ENGINE" ? value : null, stderr, linuxSupported);
        return (choice, failed, stderr.ToString());
    }

    [Theory]
    [InlineData(null, "Auto")]
    [InlineData("", "Auto")]
    [InlineData("  ", "Auto")]
    [InlineData("auto", "Auto")]
    [InlineData("linux", "Linux")]
    [InlineData("sockets", "Sockets")]
    [InlineData("Sockets", "Sockets")]
    [InlineData(" LINUX ", "Linux")]
    public async Task Each_value_is_read_in_any_case_and_unset_or_empty_is_auto(string? value, string expected)
    {
        var (choice, failed, stderr) = await ReadAsync(value);
        Assert.False(failed, stderr);
        Assert.Equal(Enum.Parse<EngineChoice>(expected), choice);
        Assert.Empty(stderr);
    }

    [Fact]
    public async Task An_unknown_value_fails_naming_the_variable_and_the_accepted_values()
    {
        var (_, failed, stderr) = await ReadAsync("bogus");
        Assert.True(failed);
        Assert.Equal("tpt: TPT_ENGINE must be one of auto, linux, sockets, got 'bogus'; nothing was started", stderr.TrimEnd());
    }

    [Fact]
    public async Task A_long_value_is_shown_cut_to_32_characters_and_escaped()
    {
        var value = "\u001b[31m" + new string('x', 100) + "TAIL-SECRET";
        var (_, failed, stderr) = await ReadAsync(value);
        Assert.True(failed);
        Assert.DoesNotContain("\u001b", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("TAIL-SECRET", stderr, StringComparison.Ordinal);
        Assert.Contains(@"got '\x1b[31m" + new string('x', 27) + "... (116 characters)'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Linux_where_the_linux_engine_cannot_run_fails()
    {
        var (_, failed, stderr) = await ReadAsync("linux", linuxSupported: false);
        Assert.True(failed);
        Assert.Equal("tpt: TPT_ENGINE=linux: the Linux engine cannot run here (it needs Linux on x64 or arm64); use 'auto' or 'sockets'; nothing was started", stderr.TrimEnd());

        Assert.False((await ReadAsync("sockets", linuxSupported: false)).Failed);
        Assert.False((await ReadAsync("auto", linuxSupported: false)).Failed);
    }

    [Fact]
    public async Task Check_exits_1_on_a_bad_value_and_shows_the_default_it_was_given()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tpt-engine-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(path, "version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n");
        try
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            Assert.Equal(1, await TptApp.RunAsync(["check", "-c", path], Env(("TPT_ENGINE", "epoll")), stdout, stderr));
            Assert.Contains("TPT_ENGINE must be one of auto, linux, sockets, got 'epoll'", stderr.ToString(), StringComparison.Ordinal);

            using var good = new StringWriter();
            Assert.Equal(0, await TptApp.RunAsync(["check", "-c", path], Env(("TPT_ENGINE", "sockets")), good, TextWriter.Null));
            Assert.Contains("web: tcp, maxclients 100, engine sockets", good.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
