using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Dns;

namespace TlsProxyTunnel.Explain;

/// <summary>
/// Prints an <see cref="Explanation"/> for people (text) or scripts (JSON, written with <see cref="Utf8JsonWriter"/>
/// so Native AOT needs no reflection). Text from the file or the input is escaped (<see cref="DiagnosticText"/>);
/// hidden values were replaced before they got here.
/// </summary>
internal static class ExplanationWriter
{
    /// <param name="addresses">What each shown <c>tcp://</c> upstream resolves to now, by upstream name.</param>
    public static void WriteText(Explanation explanation, IReadOnlyDictionary<string, ResolveResult> addresses, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        ArgumentNullException.ThrowIfNull(addresses);
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine(Heading(explanation));
        foreach (var server in explanation.Servers)
        {
            var listen = server.Server.Listen.Count == 0 ? "no listen address" : "listen " + string.Join(", ", server.Server.Listen.Select(l => Show(l.Text)));
            if (server.Skipped is not null)
            {
                output.WriteLine($"server {Quote(server.Server.Name)} (tcp, {listen}, engine {Engine.EngineSelection.Name(server.Engine)}): skipped: {server.Skipped}");
                continue;
            }

            output.WriteLine($"server {Quote(server.Server.Name)} (tls, {listen}, engine {Engine.EngineSelection.Name(server.Engine)}):");
            var rule = server.Match switch
            {
                MatchKind.Exact => $"exact {Quote(server.Rule!)}",
                MatchKind.Wildcard => $"wildcard {Quote(server.Rule!)}",
                MatchKind.Default => "default",
                _ => "none (closed)",
            };
            output.WriteLine($"  rule: {rule}: {server.Why}");
            if (server.Upstream is not { } upstream)
            {
                continue;
            }

            if (upstream.Config is not { } config)
            {
                output.WriteLine($"  upstream: {Quote(upstream.Written)} {ValueEcho.HiddenText}; not described, since that would show the value");
                continue;
            }

            output.WriteLine(config.Kind == UpstreamKind.Tcp
                ? $"  upstream: {Quote(config.Name)} {Show(config.Display)}{(server.Via is null ? "" : " (the proxy: tpt connects here and sends CONNECT)")}"
                : $"  upstream: {Quote(config.Name)} (built in)");
            if (config.Kind == UpstreamKind.Tcp && addresses.TryGetValue(config.Name, out var resolved))
            {
                output.WriteLine(resolved.Succeeded
                    ? $"  addresses: {string.Join(", ", resolved.Addresses)}{(resolved.Stale ? " (stale)" : "")}"
                    : $"  addresses: none: {Show(resolved.Error!)}");
            }

            if (config.Kind != UpstreamKind.Tcp)
            {
                continue;
            }

            if (server.Via is not { } via)
            {
                output.WriteLine("  via: direct (no CONNECT)");
            }
            else if (via.Problem is not null)
            {
                output.WriteLine($"  via: {via.Problem}");
            }
            else
            {
                output.WriteLine("  via: CONNECT request:");
                output.WriteLine($"    {Show(via.RequestLine!)}");
                foreach (var header in via.Headers)
                {
                    output.WriteLine($"    {Show(header.Name)}: {Show(header.Value)}");
                }
            }
        }
    }

    public static void WriteJson(Explanation explanation, IReadOnlyDictionary<string, ResolveResult> addresses, Stream output)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        ArgumentNullException.ThrowIfNull(addresses);
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions
        {
            Indented = true,

            // Read by scripts and people, never embedded in HTML: keep ' and non-ASCII readable. Control characters are still escaped.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
        json.WriteStartObject();
        json.WriteStartObject("input");
        var input = explanation.Input;
        json.WriteString("kind", input.Name is null ? "hello" : "name");
        if (input.HelloFile is not null)
        {
            json.WriteString("file", input.HelloFile);
        }

        WriteReading(json, explanation.Reading);
        json.WriteEndObject();

        json.WriteStartArray("servers");
        foreach (var server in explanation.Servers)
        {
            json.WriteStartObject();
            json.WriteString("server", server.Server.Name);
            json.WriteBoolean("tls", server.Server.Tls);
            json.WriteString("engine", Engine.EngineSelection.Name(server.Engine));
            json.WriteStartArray("listen");
            foreach (var listen in server.Server.Listen)
            {
                json.WriteStringValue(listen.Text);
            }

            json.WriteEndArray();
            json.WriteString("skipped", server.Skipped);
            if (server.Reading is { } reading)
            {
                json.WriteString("reading", HelloReadOutcomes.Label(reading.Outcome));
            }

            json.WriteString("match", server.Match.ToString().ToLowerInvariant());
            json.WriteString("rule", server.Rule);
            json.WriteString("why", server.Why);
            WriteUpstream(json, server.Upstream, addresses);
            WriteVia(json, server);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static string Heading(Explanation explanation)
    {
        var reading = explanation.Reading;
        var source = explanation.Input.Name is not null ? "name" : $"hello {Show(explanation.Input.HelloFile ?? "")}";
        return reading.Outcome switch
        {
            HelloReadOutcome.Sni => $"{source} {Quote(reading.RawName!)} -> {reading.Name}",
            HelloReadOutcome.InvalidSni => $"{source} {Quote(reading.RawName!)}: not a valid host name (counts as no name)",
            HelloReadOutcome.NoSni => $"{source}: a ClientHello without a server name",
            HelloReadOutcome.NotTls => $"{source}: not a TLS handshake",
            HelloReadOutcome.Malformed => $"{source}: a malformed ClientHello",
            _ when reading.Partial => $"{source}: only part of a ClientHello",
            _ => string.Create(CultureInfo.InvariantCulture, $"{source}: a ClientHello of {explanation.Input.Hello?.Length ?? 0} bytes"),
        };
    }

    private static void WriteReading(Utf8JsonWriter json, NameReading reading)
    {
        json.WriteString("reading", HelloReadOutcomes.Label(reading.Outcome));
        json.WriteString("sent", reading.RawName);
        json.WriteString("normalized", reading.Name);
    }

    private static void WriteUpstream(Utf8JsonWriter json, UpstreamExplanation? upstream, IReadOnlyDictionary<string, ResolveResult> addresses)
    {
        if (upstream is null)
        {
            json.WriteNull("upstream");
            return;
        }

        json.WriteStartObject("upstream");
        json.WriteString("name", upstream.Written);
        json.WriteBoolean("hidden", upstream.Hidden);
        if (upstream.Config is { } config)
        {
            json.WriteString("kind", config.Kind.ToString().ToLowerInvariant());
            if (config.Kind == UpstreamKind.Tcp)
            {
                json.WriteString("url", config.Display);
                if (addresses.TryGetValue(config.Name, out var resolved))
                {
                    json.WriteStartArray("addresses");
                    foreach (var address in resolved.Addresses)
                    {
                        json.WriteStringValue(address.ToString());
                    }

                    json.WriteEndArray();
                    json.WriteBoolean("stale", resolved.Stale);
                    json.WriteString("error", resolved.Error);
                }
            }
        }

        json.WriteEndObject();
    }

    private static void WriteVia(Utf8JsonWriter json, ServerExplanation server)
    {
        if (server.Via is not { } via)
        {
            json.WriteNull("via");
            return;
        }

        json.WriteStartObject("via");
        json.WriteString("request_line", via.RequestLine);
        json.WriteStartArray("headers");
        foreach (var header in via.Headers)
        {
            json.WriteStartObject();
            json.WriteString("name", header.Name);
            json.WriteString("value", header.Value);
            json.WriteBoolean("hidden", header.Hidden);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteString("problem", via.Problem);
        json.WriteEndObject();
    }

    /// <summary>Escaped, and cut far later than in diagnostics: a 253-character name or a CONNECT line is shown whole.</summary>
    internal static string Show(string text) => DiagnosticText.Printable(text, RouteExplainer.MaxShownLength);

    internal static string Quote(string text) => DiagnosticText.Quote(text, RouteExplainer.MaxShownLength);
}
