namespace TlsProxyTunnel.Connections;

/// <summary>How a connection ended; errors are explicit values, not exceptions, on the hot path.</summary>
internal enum ConnectionOutcome
{
    /// <summary>Both directions finished cleanly.</summary>
    Completed,

    /// <summary>Closed on purpose by the <c>ban</c> upstream.</summary>
    Banned,

    /// <summary>The ClientHello could not be read (too large, stalled, client gone).</summary>
    HelloFailed,

    /// <summary>
    /// <c>transparent: true</c> found no original destination (the client was not redirected by NAT), or an
    /// <c>original_dst</c> upstream was reached without one.
    /// </summary>
    NoOriginalDestination,

    /// <summary>No address of the upstream (or its proxy) could be resolved or connected within connect_timeout.</summary>
    UpstreamUnreachable,

    /// <summary>The CONNECT proxy answered with a non-2xx status.</summary>
    ProxyRefused,

    /// <summary>The CONNECT exchange failed (timeout, garbage, proxy closed).</summary>
    ProxyFailed,

    /// <summary>No CONNECT target could be derived (use_sni_as_target without a valid SNI and no static target).</summary>
    NoTarget,

    /// <summary>
    /// <c>proxy_protocol</c>: the client's PROXY header was malformed, missing where required, or incomplete at
    /// client_hello_timeout.
    /// </summary>
    ProxyHeaderInvalid,

    /// <summary>The TLS handshake with the client (<c>terminate_tls</c>) failed: see <c>tpt_tls_handshakes_total{side="client"}</c>.</summary>
    TlsClientFailed,

    /// <summary>The TLS handshake with the upstream (<c>upstream.NAME.tls</c>) failed: untrusted, name mismatch, timeout, protocol.</summary>
    TlsUpstreamFailed,

    /// <summary>The client reset or errored while relaying.</summary>
    ClientError,

    /// <summary>The upstream reset or errored while relaying.</summary>
    UpstreamError,

    /// <summary>No traffic either way for idle_timeout.</summary>
    IdleTimeout,

    /// <summary>A send to one side made no progress for write_timeout (that side stopped reading).</summary>
    WriteTimeout,

    /// <summary><c>decapsulate</c>: no session id within client_hello_timeout, or a frame longer than a datagram.</summary>
    FramingInvalid,

    /// <summary>Cut at the end of the shutdown drain.</summary>
    Aborted,

    /// <summary>The upstream's pool gave no connection within its wait_timeout.</summary>
    PoolWaitTimeout,

    /// <summary>The upstream's pool had no idle connection and max_waiters clients were already waiting.</summary>
    PoolFull,
}

internal static class ConnectionOutcomes
{
    public static bool IsError(ConnectionOutcome outcome) => outcome is not (ConnectionOutcome.Completed or ConnectionOutcome.Banned);

    public static string Label(ConnectionOutcome outcome) => outcome switch
    {
        ConnectionOutcome.Completed => "completed",
        ConnectionOutcome.Banned => "banned",
        ConnectionOutcome.HelloFailed => "hello_failed",
        ConnectionOutcome.NoOriginalDestination => "no_original_destination",
        ConnectionOutcome.UpstreamUnreachable => "upstream_unreachable",
        ConnectionOutcome.ProxyRefused => "proxy_refused",
        ConnectionOutcome.ProxyFailed => "proxy_failed",
        ConnectionOutcome.NoTarget => "no_target",
        ConnectionOutcome.ProxyHeaderInvalid => "proxy_header_invalid",
        ConnectionOutcome.TlsClientFailed => "tls_client_failed",
        ConnectionOutcome.TlsUpstreamFailed => "tls_upstream_failed",
        ConnectionOutcome.ClientError => "client_error",
        ConnectionOutcome.UpstreamError => "upstream_error",
        ConnectionOutcome.IdleTimeout => "idle_timeout",
        ConnectionOutcome.WriteTimeout => "write_timeout",
        ConnectionOutcome.FramingInvalid => "framing_invalid",
        ConnectionOutcome.Aborted => "aborted",
        ConnectionOutcome.PoolWaitTimeout => "pool_wait_timeout",
        ConnectionOutcome.PoolFull => "pool_full",
        _ => "unknown",
    };
}
