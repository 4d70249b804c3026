using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Explain;

/// <summary>What <c>tpt explain</c> was asked about: a name typed on the command line, or a captured ClientHello.</summary>
/// <param name="Name">The name as given; null for a hello.</param>
/// <param name="Hello">The hello's bytes; null for a name.</param>
/// <param name="HelloFile">Where the hello was read from, for the output.</param>
internal sealed record ExplainInput(string? Name, byte[]? Hello, string? HelloFile)
{
    public static ExplainInput ForName(string name) => new(name, null, null);

    public static ExplainInput ForHello(byte[] hello, string file) => new(null, hello, file);
}

internal enum MatchKind
{
    /// <summary>The normalised name equals an SNI key.</summary>
    Exact,

    /// <summary>The most specific <c>*.suffix</c> key that matches, no exact key matching.</summary>
    Wildcard,

    /// <summary>No key matches, or there is no usable name: the server's default.</summary>
    Default,

    /// <summary>The hello never routes: too large, or only part of one.</summary>
    Closed,
}

/// <summary>How one server reads the input: the outcome the access log would show and the name routed on.</summary>
/// <param name="Outcome">As in the access log's hello field.</param>
/// <param name="RawName">The host_name as sent (a hello) or given (a name), before normalisation; null when none.</param>
/// <param name="Name">The normalised name, when it is a valid host name.</param>
/// <param name="Partial">A hello cut short: a client that stops there is closed at client_hello_timeout.</param>
internal sealed record NameReading(HelloReadOutcome Outcome, string? RawName, string? Name, bool Partial = false);

/// <summary>The upstream a route leads to, as far as it may be shown.</summary>
/// <param name="Written">The name as the file wrote it (<c>${UPSTREAM}</c> when it came from the environment).</param>
/// <param name="Config">The upstream; null when its name came from the environment, which would reveal the value.</param>
internal sealed record UpstreamExplanation(string Written, UpstreamConfig? Config)
{
    public bool Hidden => Config is null;
}

/// <summary>One header of the CONNECT request as <c>explain</c> shows it.</summary>
internal sealed record ShownHeader(string Name, string Value, bool Hidden);

/// <summary>What tpt sends the via proxy: the CONNECT request, secrets masked, or why it sends none.</summary>
/// <param name="RequestLine"><c>CONNECT authority HTTP/1.1</c>; null with <paramref name="Problem"/>.</param>
/// <param name="Headers">In wire order, <c>Host</c> first.</param>
/// <param name="Problem">Why no CONNECT can be sent (the connection is closed instead).</param>
internal sealed record ViaExplanation(string? RequestLine, IReadOnlyList<ShownHeader> Headers, string? Problem);

/// <param name="Skipped">Why this server never reads a name (it is not <c>tls</c>); null when it does.</param>
/// <param name="Via">Null when the upstream is reached directly (or is built in, or hidden).</param>
internal sealed record ServerExplanation(
    ServerConfig Server,
    string? Skipped,
    NameReading? Reading,
    MatchKind Match,
    string? Rule,
    string Why,
    UpstreamExplanation? Upstream,
    ViaExplanation? Via)
{
    /// <summary>The engine the server's connections would run on.</summary>
    public Engine.EngineKind Engine { get; init; }
}

internal sealed record Explanation(ExplainInput Input, NameReading Reading, IReadOnlyList<ServerExplanation> Servers);
