using System.Text;
using System.Text.Json;
using TlsProxyTunnel.Diagnostics.Status;

namespace TlsProxyTunnel.Tests.Diagnostics.Status;

public sealed class StatusWritersTests
{
    private const string Hostile = "<script>alert(\"x\")</script> & 'q' </td></table>";

    private static readonly DateTimeOffset At = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);

    private static StatusPageModel Model() => new(
        At,
        TimeSpan.FromSeconds(5),
        [
            new StatusSection("process", "Process")
            {
                Fields =
                [
                    new("version", "Version", StatusValue.Of("1.2.3")),
                    new("uptime_seconds", "Uptime", StatusValue.Seconds(TimeSpan.FromSeconds(3725))),
                    new("last_reload_at", "Last reload at", StatusValue.At(null)),
                ],
            },
            new StatusSection("servers", Hostile)
            {
                Note = Hostile,
                Columns = [new("name", "Server " + Hostile), new("listen", "Listen"), new("accepted", "Accepted"), new("accepted_per_second_10s", "/s 10 s")],
                Rows =
                [
                    [StatusValue.Of(Hostile), StatusValue.List(["127.0.0.1:443", "[::1]:443"]), StatusValue.Of(12345), StatusValue.Rate(2.5)],
                    [StatusValue.Of("plain"), StatusValue.List([Hostile]), StatusValue.Of(0), StatusValue.Rate(null)],
                ],
            },
            new StatusSection("connect", "CONNECT")
            {
                Columns = [new("outcome", "Outcome")],
                EmptyText = "no CONNECT " + Hostile,
            },
        ]);

    [Fact]
    public void Html_escapes_every_text_from_the_model_and_carries_no_script_or_external_asset()
    {
        var html = StatusHtmlWriter.Write(Model());

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("</td></table> ", html, StringComparison.Ordinal);
        Assert.DoesNotContain("alert(\"x\")", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;", html, StringComparison.Ordinal);

        // The hostile text was in a title, a note, a header, a cell, a list item and an empty-table text: six times escaped.
        Assert.Equal(6, html.Split("&lt;script&gt;").Length - 1);

        // Self-contained: the only link is to its own JSON; nothing is loaded.
        Assert.DoesNotContain(" src=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<a href=\"?format=json\">", html, StringComparison.Ordinal);
        Assert.Contains("<meta http-equiv=\"refresh\" content=\"5\">", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Html_shows_numbers_rates_durations_and_unknowns_readably()
    {
        var html = StatusHtmlWriter.Write(Model());
        Assert.Contains("<td class=\"n\">12,345</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"n\">2.5</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"n\">–</td>", html, StringComparison.Ordinal);
        Assert.Contains("1 h 02 min", html, StringComparison.Ordinal);
        Assert.Contains("<li class=\"mono\">[::1]:443</li>", html, StringComparison.Ordinal);
        Assert.Contains("Generated 2026-11-29 12:00:00 UTC", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_has_one_object_per_section_with_its_fields_and_rows_keyed_by_column()
    {
        using var document = JsonDocument.Parse(StatusJsonWriter.Write(Model()));
        var root = document.RootElement;

        Assert.Equal(["generated_at", "refresh_seconds", "process", "servers", "connect"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("2026-11-29T12:00:00Z", root.GetProperty("generated_at").GetString());
        Assert.Equal(5, root.GetProperty("refresh_seconds").GetInt32());

        var process = root.GetProperty("process");
        Assert.Equal("1.2.3", process.GetProperty("version").GetString());
        Assert.Equal(3725, process.GetProperty("uptime_seconds").GetDouble());
        Assert.Equal(JsonValueKind.Null, process.GetProperty("last_reload_at").ValueKind);
        Assert.False(process.TryGetProperty("rows", out _));

        var rows = root.GetProperty("servers").GetProperty("rows");
        Assert.Equal(2, rows.GetArrayLength());
        var first = rows[0];
        Assert.Equal(Hostile, first.GetProperty("name").GetString());
        Assert.Equal(["127.0.0.1:443", "[::1]:443"], first.GetProperty("listen").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(12345, first.GetProperty("accepted").GetInt64());
        Assert.Equal(2.5, first.GetProperty("accepted_per_second_10s").GetDouble());
        Assert.Equal(JsonValueKind.Null, rows[1].GetProperty("accepted_per_second_10s").ValueKind);

        Assert.Equal(0, root.GetProperty("connect").GetProperty("rows").GetArrayLength());
    }

    [Fact]
    public void Json_escapes_markup_so_it_is_safe_even_if_a_browser_sniffs_it_as_html()
    {
        var text = Encoding.UTF8.GetString(StatusJsonWriter.Write(Model()));
        Assert.DoesNotContain("<script", text, StringComparison.OrdinalIgnoreCase);
    }
}
