using TlsProxyTunnel.Configuration.Yaml;
using YamlDotNet.Core;

namespace TlsProxyTunnel.Configuration;

/// <summary>What an idle pooled connection does with bytes its server sends before any client uses it.</summary>
internal enum ServerFirstMode
{
    /// <summary>Drop them (ptw does the same, and then closes the connection; we keep it).</summary>
    Discard,

    /// <summary>Keep them (up to a bound) and hand them to the client first.</summary>
    Keep,
}

/// <summary>
/// <c>upstream.NAME.pool</c>: connections kept ready with TCP, CONNECT and TLS done (ptw's <c>-n -T -B -W</c>).
/// </summary>
internal sealed record PoolSettings
{
    public int Size { get; init; } = 25;

    /// <summary>An idle connection older than this (counted from when it was parked) is replaced.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The delay of a slot after a failed attempt or a connection its server broke while idle.</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a client waits for a connection when none is idle.</summary>
    public TimeSpan WaitTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Clients that may wait at once; more are closed at once (outcome <c>pool_full</c>).</summary>
    public int MaxWaiters { get; init; } = 1000;

    public ServerFirstMode ServerFirst { get; init; } = ServerFirstMode.Discard;

    /// <summary>Where the <c>pool</c> key was written, for errors found once the whole file is read.</summary>
    public Mark Where { get; init; }

    /// <summary>The settings by value, for the key that decides whether a reload keeps the pool (<see cref="Where"/> left out).</summary>
    public string Describe() => $"{Size},{Ttl.Ticks},{Backoff.Ticks},{WaitTimeout.Ticks},{MaxWaiters},{ServerFirst}";
}

/// <summary>Reads <c>upstream.NAME.pool</c> and the rules that tie it to the rest of the file.</summary>
internal sealed class PoolReader(ValueReader values)
{
    public static readonly IReadOnlyList<string> Keys = ["size", "ttl", "backoff", "wait_timeout", "max_waiters", "server_first"];

    private static readonly Dictionary<string, ServerFirstMode> ServerFirstModes = new(StringComparer.Ordinal)
    {
        ["discard"] = ServerFirstMode.Discard,
        ["keep"] = ServerFirstMode.Keep,
    };

    private DiagnosticBag Diagnostics => values.Diagnostics;

    public PoolSettings? Read(ConfigNode node, Mark key, string what, UpstreamTlsSettings? tls)
    {
        if (Section.Open(node, $"'pool' of {what}", Keys, Diagnostics) is not { } section)
        {
            return null;
        }

        var pool = new PoolSettings { Where = key };
        if (section.Int("size", values, 1, 10_000) is { } size)
        {
            pool = pool with { Size = size };
        }

        if (section.Duration("ttl", values) is { } ttl)
        {
            pool = pool with { Ttl = ttl };
        }

        if (section.Duration("backoff", values) is { } backoff)
        {
            pool = pool with { Backoff = backoff };
        }

        if (section.Duration("wait_timeout", values) is { } wait)
        {
            pool = pool with { WaitTimeout = wait };
        }

        if (section.Int("max_waiters", values, 0, 1_000_000) is { } waiters)
        {
            pool = pool with { MaxWaiters = waiters };
        }

        if (section.Get("server_first") is { } firstNode && values.Choice("server_first", firstNode, ServerFirstModes) is { } first)
        {
            pool = pool with { ServerFirst = first };
        }

        if (tls is { ServerNameFromClient: true })
        {
            // A pooled connection's handshake happens before any client: there is no client SNI to send yet.
            Diagnostics.Error(key, $"'pool' of {what} cannot be combined with 'tls.server_name: {TlsReader.FromClient}': pooled connections are made before a client (and its SNI) exists; set a fixed server_name or remove 'pool'");
        }

        return pool;
    }

    /// <summary>
    /// A route reaches a pooled upstream through a via whose CONNECT target is the client's SNI: connections made
    /// ahead of the client cannot know it.
    /// </summary>
    public static void CheckVia(UpstreamConfig upstream, ViaConfig via, string usage, DiagnosticBag diagnostics)
    {
        if (upstream.Pool is { } pool && via.UseSniAsTarget)
        {
            diagnostics.Error(pool.Where, $"'pool' of upstream {DiagnosticText.Quote(upstream.Name)} cannot be used through a via with 'use_sni_as_target' ({usage}): the CONNECT target depends on each client, and pooled connections are made before one exists");
        }
    }

    /// <summary>
    /// Hook for the PROXY protocol sender (issue #12, <c>proxy_protocol_placement: before_tls</c>): a header in
    /// clear before the ClientHello describes one client, but a pooled connection's handshake happened before any
    /// client. Call this with the placement once that key exists; it reports the conflict at the <c>pool</c> key.
    /// </summary>
    public static void CheckProxyProtocolBeforeTls(UpstreamConfig upstream, bool headerBeforeTls, DiagnosticBag diagnostics)
    {
        if (upstream.Pool is { } pool && headerBeforeTls)
        {
            diagnostics.Error(pool.Where, $"'pool' of upstream {DiagnosticText.Quote(upstream.Name)} cannot be combined with 'proxy_protocol_placement: before_tls': that header depends on the client and must precede the TLS handshake, which a pooled connection did before any client came; use inside_tls or remove 'pool'");
        }
    }
}
