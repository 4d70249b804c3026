using TlsProxyTunnel.Configuration;
using YamlDotNet.Core;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class DiagnosticBagTests
{
    private static readonly Mark Here = new(10, 3, 7);
    private static readonly Mark Elsewhere = new(20, 4, 7);

    /// <summary>The safety net under <see cref="ValueEcho"/>: a message that quotes a secret's part by mistake.</summary>
    [Fact]
    public void A_message_at_a_secrets_position_loses_every_word_of_the_secret()
    {
        var bag = new DiagnosticBag("f.yaml");
        bag.AddSecret(Here, "proxy:Basic_dXNlcjpwYXNz");
        bag.Error(Here, "the port 'Basic_dXNlcjpwYXNz' must be a number; host 'proxy'; cut 'dXNlcjpw...'");
        var message = Assert.Single(bag.Items).Message;
        Assert.DoesNotContain("dXNl", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Basic", message, StringComparison.Ordinal);
        Assert.DoesNotContain("proxy", message, StringComparison.Ordinal);
        Assert.Contains("the port", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Messages_elsewhere_are_not_scrubbed()
    {
        var bag = new DiagnosticBag("f.yaml");
        bag.AddSecret(Here, "proxy:3128");
        bag.Error(Elsewhere, "upstream 'proxy' is fine here");
        Assert.Equal("upstream 'proxy' is fine here", Assert.Single(bag.Items).Message);
    }

    [Fact]
    public void One_diagnostic_per_position_and_severity_and_at_most_the_cap()
    {
        var bag = new DiagnosticBag("f.yaml");
        bag.Error(Here, "first");
        bag.Error(Here, "second, same place");
        bag.Warning(Here, "a warning, same place");
        for (var i = 0; i < 2 * DiagnosticBag.MaxReported; i++)
        {
            bag.Error(new Mark(100 + i, 100 + i, 1), $"error {i}");
        }

        Assert.Equal(1 + (2 * DiagnosticBag.MaxReported), bag.ErrorCount);
        var items = bag.Items;
        Assert.Equal(DiagnosticBag.MaxReported + 1, items.Count);
        Assert.Contains(items, d => d.Message == "first");
        Assert.DoesNotContain(items, d => d.Message.StartsWith("second", StringComparison.Ordinal));
        Assert.Contains(items, d => d.Severity == DiagnosticSeverity.Warning);
        Assert.Equal($"f.yaml: note: and {(2 * DiagnosticBag.MaxReported) + 1 - (DiagnosticBag.MaxReported - 1)} more error(s) and 0 more warning(s) not shown; fix the ones above first", items[^1].ToString());
    }

    [Fact]
    public void A_huge_message_is_cut()
    {
        var bag = new DiagnosticBag("f.yaml");
        bag.Error(Here, new string('x', 1_000_000));
        Assert.True(Assert.Single(bag.Items).Message.Length < DiagnosticBag.MaxMessageLength + 50);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("we\u001b[2Jb\u0007", @"we\x1b[2Jb\x07")]
    [InlineData("a\tb\r\nc", @"a\tb\r\nc")]
    [InlineData("back\\slash", @"back\\slash")]
    [InlineData("rtl\u202Eevil", @"rtl\u202eevil")]
    [InlineData("c1\u009Bx", @"c1\u009bx")]
    public void Text_is_escaped(string text, string shown) => Assert.Equal(shown, DiagnosticText.Printable(text));

    [Fact]
    public void Long_text_is_cut_and_says_how_long_it_was()
    {
        var shown = DiagnosticText.Printable(new string('y', 10_000));
        Assert.StartsWith(new string('y', DiagnosticText.MaxShownLength) + "...", shown, StringComparison.Ordinal);
        Assert.EndsWith("(10000 characters)", shown, StringComparison.Ordinal);
    }
}
