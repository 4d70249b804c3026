using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Engine;

namespace TlsProxyTunnel.Tests.Engine;

/// <summary>The one decision of which engine a server runs on (issue #16), over every combination of its inputs.</summary>
public sealed class EngineSelectionTests
{
    /// <summary>Server's engine, TPT_ENGINE, Linux engine can run → the engine, or null where that is an error.</summary>
    public static TheoryData<string, string, bool, string?> Table => new()
    {
        // The server's explicit choice wins over the process default.
        { "linux", "auto", true, "linux" },
        { "linux", "linux", true, "linux" },
        { "linux", "sockets", true, "linux" },
        { "sockets", "auto", true, "sockets" },
        { "sockets", "linux", true, "sockets" },
        { "sockets", "sockets", true, "sockets" },

        // Else the process default's explicit value; auto on both is Linux where it can run.
        { "auto", "linux", true, "linux" },
        { "auto", "sockets", true, "sockets" },
        { "auto", "auto", true, "linux" },

        // Where it cannot run: auto falls back to sockets, an explicit linux from either source is an error.
        { "linux", "auto", false, null },
        { "linux", "linux", false, null },
        { "linux", "sockets", false, null },
        { "sockets", "auto", false, "sockets" },
        { "sockets", "linux", false, "sockets" },
        { "sockets", "sockets", false, "sockets" },
        { "auto", "linux", false, null },
        { "auto", "sockets", false, "sockets" },
        { "auto", "auto", false, "sockets" },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Resolves_the_table(string server, string processDefault, bool linuxSupported, string? expected)
    {
        var resolved = EngineSelection.TryResolve(Choice(server), Choice(processDefault), linuxSupported, out var kind, out var error);

        Assert.Equal(expected is not null, resolved);
        if (expected is not null)
        {
            Assert.Equal(expected, EngineSelection.Name(kind));
            Assert.Null(error);
        }
        else
        {
            Assert.Equal(EngineSelection.Unsupported, error);
        }
    }

    [Fact]
    public void The_table_covers_every_combination()
    {
        var rows = Table.Select(row => (Choice((string)row[0]), Choice((string)row[1]), (bool)row[2])).ToHashSet();
        Assert.Equal(Enum.GetValues<EngineChoice>().Length * Enum.GetValues<EngineChoice>().Length * 2, rows.Count);
    }

    [Theory]
    [InlineData("auto", "linux", true)]
    [InlineData("auto", "auto", true)]
    [InlineData("sockets", "linux", false)]
    [InlineData("auto", "linux", false)]
    public void A_udp_server_always_runs_on_sockets(string server, string processDefault, bool linuxSupported)
    {
        var udp = new ServerConfig { Name = "wg", Listen = [], Protocol = ListenProtocol.Udp, Engine = Choice(server) };

        Assert.True(EngineSelection.TryResolve(udp, Choice(processDefault), linuxSupported, out var kind, out var error));
        Assert.Equal(EngineKind.Sockets, kind);
        Assert.Null(error);
    }

    [Fact]
    public void A_tcp_server_resolves_through_its_engine_key()
    {
        var web = new ServerConfig { Name = "web", Listen = [], Engine = EngineChoice.Sockets };
        Assert.True(EngineSelection.TryResolve(web, EngineChoice.Linux, true, out var kind, out _));
        Assert.Equal(EngineKind.Sockets, kind);
        Assert.False(EngineSelection.TryResolve(web with { Engine = EngineChoice.Linux }, EngineChoice.Sockets, false, out _, out var error));
        Assert.Equal(EngineSelection.Unsupported, error);
    }

    [Theory]
    [InlineData("Linux", "linux")]
    [InlineData("Sockets", "sockets")]
    public void Names_are_the_config_values(string kind, string name)
    {
        Assert.Equal(name, EngineSelection.Name(Enum.Parse<EngineKind>(kind)));
        Assert.True(EngineChoiceNames.TryParse(name, out _));
    }

    private static EngineChoice Choice(string name) => EngineChoiceNames.Table[name];
}
