using TlsProxyTunnel.Engine.Linux;

namespace TlsProxyTunnel.Tests.Engine;

/// <summary>The pipes the Linux engine's relays splice through: the cap from the descriptor limit, and the counts admission reads.</summary>
[Collection(LinuxEngineAlone.Name)]
public sealed class SplicePipeTests
{
    [Fact]
    public void No_pipe_is_made_beyond_the_cap_and_one_made_under_it_is_counted_until_closed()
    {
        var cap = SplicePipe.MaxOpen;
        try
        {
            // This thread is no loop: it has no idle pipes of its own, so every rent here makes a new one.
            SplicePipe.MaxOpen = SplicePipe.Open;
            Assert.False(SplicePipe.TryRent(out _));

            SplicePipe.MaxOpen = SplicePipe.Open + 1;
            var open = SplicePipe.Open;
            var inUse = SplicePipe.InUse;
            Assert.True(SplicePipe.TryRent(out var pipe));
            Assert.Equal(open + 1, SplicePipe.Open);
            Assert.Equal(inUse + 1, SplicePipe.InUse);

            // One that still holds bytes is closed, not kept.
            pipe.Return(empty: false);
            Assert.Equal(open, SplicePipe.Open);
            Assert.Equal(inUse, SplicePipe.InUse);
        }
        finally
        {
            SplicePipe.MaxOpen = cap;
        }
    }
}
