namespace TlsProxyTunnel.Connections;

/// <summary>How reading the ClientHello ended, as counted in metrics and shown in the access log.</summary>
internal enum HelloReadOutcome
{
    /// <summary>The server is not <c>tls: true</c>; nothing was read.</summary>
    NotRead,
    Sni,
    NoSni,

    /// <summary>A host_name was present but is not a valid host name (counts as no SNI for routing).</summary>
    InvalidSni,
    NotTls,
    Malformed,
    TooLarge,

    /// <summary>The client sent nothing before client_hello_timeout (a server-first protocol): routed to default.</summary>
    Silent,

    /// <summary>A partial ClientHello, then nothing until client_hello_timeout: closed.</summary>
    Stalled,

    /// <summary>The client closed or reset before a whole ClientHello arrived.</summary>
    ClientClosed,
}

internal static class HelloReadOutcomes
{
    public static string Label(HelloReadOutcome outcome) => outcome switch
    {
        HelloReadOutcome.NotRead => "not_read",
        HelloReadOutcome.Sni => "sni",
        HelloReadOutcome.NoSni => "no_sni",
        HelloReadOutcome.InvalidSni => "invalid_sni",
        HelloReadOutcome.NotTls => "not_tls",
        HelloReadOutcome.Malformed => "malformed",
        HelloReadOutcome.TooLarge => "too_large",
        HelloReadOutcome.Silent => "silent",
        HelloReadOutcome.Stalled => "stalled",
        HelloReadOutcome.ClientClosed => "client_closed",
        _ => "unknown",
    };

    /// <summary>Outcomes after which the connection still goes to the default route.</summary>
    public static bool RoutesToDefault(HelloReadOutcome outcome) =>
        outcome is HelloReadOutcome.NotRead or HelloReadOutcome.NoSni or HelloReadOutcome.InvalidSni
            or HelloReadOutcome.NotTls or HelloReadOutcome.Malformed or HelloReadOutcome.Silent;
}
