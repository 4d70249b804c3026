using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;

namespace TlsProxyTunnel.Diagnostics.Status;

/// <summary>
/// Renders the status page as one self-contained HTML document: inline CSS, no script, no external asset,
/// refreshed by <c>&lt;meta http-equiv="refresh"&gt;</c>. Every piece of text from the model goes through
/// <see cref="HtmlEncoder"/>, so a server name or SNI key cannot add markup.
/// </summary>
internal static class StatusHtmlWriter
{
    public const string ContentType = "text/html; charset=utf-8";

    /// <summary>Nothing but the inline style may load or run, whatever the page ever contains.</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    private const string Style = """
        :root{color-scheme:light dark;--fg:#1d232b;--muted:#5b6570;--line:#d5dae0;--head:#eef1f4;--good:#17753a;--warn:#9a5b00;--bad:#b3261e}
        @media (prefers-color-scheme:dark){:root{--fg:#e6e9ed;--muted:#9aa4ae;--line:#3a424b;--head:#252b32;--good:#5cc784;--warn:#f0b35a;--bad:#ff8a80}}
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:1.2em 2em;max-width:1400px}
        h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.12em;margin:1.5em 0 .3em}
        header p,.note{color:var(--muted);margin:.2em 0 .6em}
        table{border-collapse:collapse;width:100%}th,td{border:1px solid var(--line);padding:.25em .55em;text-align:left;vertical-align:top}
        th{background:var(--head);font-weight:600;white-space:nowrap}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        dl{display:grid;grid-template-columns:repeat(2,max-content minmax(12em,auto));gap:.15em 1.2em;margin:0}dt{color:var(--muted)}dd{margin:0}
        ul{margin:0;padding:0;list-style:none}code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.95em}
        .good{color:var(--good);font-weight:600}.warning{color:var(--warn);font-weight:600}.bad{color:var(--bad);font-weight:600}.empty{color:var(--muted);font-style:italic}
        """;

    public static string Write(StatusPageModel model)
    {
        var html = new StringBuilder(8192);
        var refresh = ((int)model.Refresh.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"refresh\" content=\"").Append(refresh).Append("\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>tpt status</title>\n<style>\n").Append(Style).Append("</style>\n</head>\n<body>\n")
            .Append("<header><h1>tpt status</h1><p>Generated ").Append(Encode(FormatTime(model.GeneratedAt)))
            .Append(" · refreshes every ").Append(refresh).Append(" s · <a href=\"?format=json\">JSON</a></p></header>\n");

        foreach (var section in model.Sections)
        {
            WriteSection(html, section);
        }

        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void WriteSection(StringBuilder html, StatusSection section)
    {
        html.Append("<section id=\"").Append(Encode(section.Key)).Append("\">\n<h2>").Append(Encode(section.Title)).Append("</h2>\n");
        if (section.Note is { } note)
        {
            html.Append("<p class=\"note\">").Append(Encode(note)).Append("</p>\n");
        }

        if (section.Fields.Count > 0)
        {
            html.Append("<dl>\n");
            foreach (var field in section.Fields)
            {
                html.Append("<dt>").Append(Encode(field.Label)).Append("</dt><dd");
                AppendClass(html, field.Value, numeric: false);
                html.Append('>');
                AppendValue(html, field.Value);
                html.Append("</dd>\n");
            }

            html.Append("</dl>\n");
        }

        if (section.Columns.Count > 0)
        {
            if (section.Rows.Count == 0)
            {
                html.Append("<p class=\"empty\">").Append(Encode(section.EmptyText)).Append("</p>\n");
            }
            else
            {
                WriteTable(html, section);
            }
        }

        html.Append("</section>\n");
    }

    private static void WriteTable(StringBuilder html, StatusSection section)
    {
        // A column is numeric when its first row says so; every row of a column holds one kind.
        var numeric = section.Columns.Select((_, i) => IsNumeric(section.Rows[0][i].Kind)).ToArray();
        html.Append("<table>\n<thead><tr>");
        for (var i = 0; i < section.Columns.Count; i++)
        {
            html.Append(numeric[i] ? "<th class=\"n\">" : "<th>").Append(Encode(section.Columns[i].Header)).Append("</th>");
        }

        html.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in section.Rows)
        {
            html.Append("<tr>");
            for (var i = 0; i < row.Count; i++)
            {
                html.Append("<td");
                AppendClass(html, row[i], numeric[i]);
                html.Append('>');
                AppendValue(html, row[i]);
                html.Append("</td>");
            }

            html.Append("</tr>\n");
        }

        html.Append("</tbody>\n</table>\n");
    }

    private static bool IsNumeric(StatusValueKind kind) => kind is StatusValueKind.Count or StatusValueKind.Rate or StatusValueKind.Seconds;

    private static void AppendClass(StringBuilder html, StatusValue value, bool numeric)
    {
        var tone = value.Tone switch
        {
            StatusTone.Good => "good",
            StatusTone.Warning => "warning",
            StatusTone.Bad => "bad",
            _ => null,
        };
        var classes = numeric ? (tone is null ? "n" : "n " + tone) : tone;
        if (classes is not null)
        {
            html.Append(" class=\"").Append(classes).Append('"');
        }
    }

    private static void AppendValue(StringBuilder html, StatusValue value)
    {
        switch (value.Kind)
        {
            case StatusValueKind.List:
                if (value.Items is not { Count: > 0 } items)
                {
                    html.Append('–');
                    break;
                }

                html.Append("<ul>");
                foreach (var item in items)
                {
                    html.Append("<li class=\"mono\">").Append(Encode(item)).Append("</li>");
                }

                html.Append("</ul>");
                break;
            case StatusValueKind.Count:
                html.Append(((long)value.Number!.Value).ToString("N0", CultureInfo.InvariantCulture));
                break;
            case StatusValueKind.Rate:
                html.Append(value.Number is { } rate ? rate.ToString("0.0#", CultureInfo.InvariantCulture) : "–");
                break;
            case StatusValueKind.Seconds:
                html.Append(value.Number is { } seconds ? Encode(FormatDuration(seconds)) : "–");
                break;
            case StatusValueKind.Time:
                html.Append(value.Time is { } time ? Encode(FormatTime(time)) : "–");
                break;
            default:
                html.Append(Encode(value.Text ?? ""));
                break;
        }
    }

    private static string Encode(string text) => HtmlEncoder.Default.Encode(text);

    private static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    internal static string FormatDuration(double seconds)
    {
        var s = (long)Math.Floor(seconds);
        return s switch
        {
            < 60 => string.Create(CultureInfo.InvariantCulture, $"{s} s"),
            < 3600 => string.Create(CultureInfo.InvariantCulture, $"{s / 60} min {s % 60:00} s"),
            < 86400 => string.Create(CultureInfo.InvariantCulture, $"{s / 3600} h {s % 3600 / 60:00} min"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{s / 86400} d {s % 86400 / 3600:00} h"),
        };
    }
}
