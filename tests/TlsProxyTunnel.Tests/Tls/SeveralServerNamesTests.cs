using System.Text;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Routing;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Tests.Tls;

/// <summary>
/// Several names in one server_name extension: every usable name is reported in the client's order, and the
/// first that matches a route is taken, as tls-proxy-tunnel does (default when none matches).
/// </summary>
public sealed class SeveralServerNamesTests
{
    private static readonly SniRouter<string> Router = new([
        new("b.test", "B"),
        new("c.test", "C"),
        new("*.wild.test", "W"),
    ]);

    private static byte[] Hello(params string[] names) =>
        new ClientHelloBuilder().WithServerNameEntries([.. names.Select(n => ((byte)0, Encoding.Latin1.GetBytes(n)))]).Build();

    private static (ClientHelloOutcome Outcome, string[] Names) ParseNames(byte[] hello, int bufferSize = 2048)
    {
        var buffer = new byte[bufferSize];
        var outcome = ClientHelloParser.ParseServerNames(hello, buffer, out var length, out _);
        var names = new List<string>();
        foreach (var name in new ServerNameList(buffer.AsSpan(0, length)))
        {
            names.Add(Encoding.Latin1.GetString(name));
        }

        return (outcome, [.. names]);
    }

    private static (HelloReadOutcome Outcome, string? Sni, string? Route) Choose(byte[] hello, SniRouter<string>? router)
    {
        var buffer = new byte[2048];
        Assert.Equal(ClientHelloOutcome.SniFound, ClientHelloParser.ParseServerNames(hello, buffer, out var length, out _));
        var outcome = ClientHelloReader.ChooseName(buffer.AsSpan(0, length), router, out var sni);
        return (outcome, sni, sni is null ? null : router?.Match(sni));
    }

    [Fact]
    public void Every_usable_host_name_is_reported_in_order()
    {
        var hello = new ClientHelloBuilder().WithServerNameEntries(
            (0, "a.test"u8.ToArray()),
            (1, "other-type.test"u8.ToArray()),
            (0, []),
            (0, Encoding.ASCII.GetBytes(new string('x', 256))),
            (0, "b.test"u8.ToArray())).Build();
        var (outcome, names) = ParseNames(hello);
        Assert.Equal(ClientHelloOutcome.SniFound, outcome);
        Assert.Equal(["a.test", "b.test"], names);
    }

    [Fact]
    public void Names_that_do_not_fit_the_buffer_are_dropped_but_the_hello_is_still_parsed_whole()
    {
        var first = new string('a', 200);
        var (outcome, names) = ParseNames(Hello(first, "b.test", new string('c', 100)), ClientHelloParser.MinNameListLength + 10);
        Assert.Equal(ClientHelloOutcome.SniFound, outcome);
        Assert.Equal([first, "b.test"], names);
    }

    [Fact]
    public void Every_strict_prefix_of_a_several_name_hello_needs_more_data()
    {
        var hello = Hello("a.test", "b.test", "c.test");
        var buffer = new byte[2048];
        for (var i = 0; i < hello.Length; i++)
        {
            Assert.Equal(ClientHelloOutcome.NeedMoreData, ClientHelloParser.ParseServerNames(hello.AsSpan(0, i), buffer, out var length, out _));
            Assert.Equal(0, length);
        }
    }

    [Fact]
    public void The_first_name_that_matches_a_route_wins_even_when_it_is_not_the_first_sent() =>
        Assert.Equal((HelloReadOutcome.Sni, "c.test", "C"), Choose(Hello("unknown.test", "c.test", "b.test"), Router));

    [Fact]
    public void Wildcards_count_as_matches_in_client_order() =>
        Assert.Equal((HelloReadOutcome.Sni, "x.wild.test", "W"), Choose(Hello("nothing.test", "x.wild.test", "b.test"), Router));

    [Fact]
    public void When_no_name_matches_the_first_valid_one_is_the_sni_and_the_default_applies() =>
        Assert.Equal((HelloReadOutcome.Sni, "first.test", null), Choose(Hello("bad name!", "FIRST.test.", "second.test"), Router));

    [Fact]
    public void Names_are_normalised_before_matching() =>
        Assert.Equal((HelloReadOutcome.Sni, "b.test", "B"), Choose(Hello("nope.test", "B.TEST."), Router));

    [Fact]
    public void Invalid_names_are_skipped_and_a_later_valid_one_routes() =>
        Assert.Equal((HelloReadOutcome.Sni, "b.test", "B"), Choose(Hello("bad name!", "b.test"), Router));

    [Fact]
    public void Only_invalid_names_is_invalid_sni() =>
        Assert.Equal((HelloReadOutcome.InvalidSni, null, null), Choose(Hello("bad name!", "also bad"), Router));

    [Fact]
    public void Without_routes_the_first_valid_name_is_the_sni() =>
        Assert.Equal((HelloReadOutcome.Sni, "a.test", null), Choose(Hello("a.test", "b.test"), null));
}
