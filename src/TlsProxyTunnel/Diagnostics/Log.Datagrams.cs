using Microsoft.Extensions.Logging;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>The log lines of UDP servers and uotp (event ids 130-149), in a file of their own.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "Listening: server {Server} on {Listen} (udp, max_sessions={MaxSessions}, idle_timeout={IdleSeconds}s)")]
    public static partial void UdpListening(ILogger logger, string server, string listen, int maxSessions, double idleSeconds);

    [LoggerMessage(EventId = 131, Level = LogLevel.Information,
        Message = "client={Client} server={Server} listen={Listen} upstream={Upstream} upstream_addr={UpstreamAddress} session={Session} rx_datagrams={DatagramsFromClient} rx={BytesFromClient} tx_datagrams={DatagramsToClient} tx={BytesToClient} dropped={Dropped} connections={Connections} duration_ms={DurationMs} outcome={Outcome}")]
    public static partial void UdpSessionAccess(ILogger logger, string client, string server, string listen, string upstream, string upstreamAddress, string session, long datagramsFromClient, long bytesFromClient, long datagramsToClient, long bytesToClient, long dropped, int connections, long durationMs, string outcome);

    [LoggerMessage(EventId = 132, Level = LogLevel.Warning, Message = "max_sessions ({MaxSessions}) reached on server {Server}; dropped a datagram from {Client} ({Suppressed} similar drops not logged)")]
    public static partial void UdpSessionLimit(ILogger logger, string server, int maxSessions, string client, long suppressed);

    [LoggerMessage(EventId = 133, Level = LogLevel.Warning, Message = "Server {Server}: uotp connection {Index} of session {Session} to {Upstream} failed: {Reason}; retrying in {BackoffMs} ms")]
    public static partial void UotpConnectFailed(ILogger logger, string server, int index, string session, string upstream, string reason, long backoffMs);

    [LoggerMessage(EventId = 134, Level = LogLevel.Information, Message = "Server {Server}: uotp connection {Index} of session {Session} to {Upstream} ended ({Reason}); reconnecting in {BackoffMs} ms")]
    public static partial void UotpConnectionLost(ILogger logger, string server, int index, string session, string upstream, string reason, long backoffMs);

    [LoggerMessage(EventId = 135, Level = LogLevel.Warning, Message = "Server {Server}: {Client} sent no uotp session id ({Reason}); closing")]
    public static partial void UotpNoSessionId(ILogger logger, string server, string client, string reason);

    [LoggerMessage(EventId = 136, Level = LogLevel.Warning, Message = "Server {Server}: {Client} sent a frame longer than a datagram (more than {Max} bytes); closing the connection")]
    public static partial void UotpFrameTooLong(ILogger logger, string server, string client, int max);

    [LoggerMessage(EventId = 137, Level = LogLevel.Information,
        Message = "uotp session={Session} server={Server} upstream={Upstream} upstream_addr={UpstreamAddress} rx_datagrams={DatagramsFromClient} rx={BytesFromClient} tx_datagrams={DatagramsToClient} tx={BytesToClient} dropped={Dropped} connections={Connections} duration_ms={DurationMs} outcome={Outcome}")]
    public static partial void UotpSessionAccess(ILogger logger, string session, string server, string upstream, string upstreamAddress, long datagramsFromClient, long bytesFromClient, long datagramsToClient, long bytesToClient, long dropped, int connections, long durationMs, string outcome);

    [LoggerMessage(EventId = 138, Level = LogLevel.Warning, Message = "Server {Server}: udp upstream {Upstream} cannot be reached: {Reason}")]
    public static partial void UdpUpstreamUnreachable(ILogger logger, string server, string upstream, string reason);

    [LoggerMessage(EventId = 139, Level = LogLevel.Debug, Message = "Server {Server}: uotp connection {Index} of session {Session} to {Upstream} open ({Address})")]
    public static partial void UotpConnected(ILogger logger, string server, int index, string session, string upstream, string address);

    [LoggerMessage(EventId = 140, Level = LogLevel.Error, Message = "Receiving on udp {Listen} failed ({Error}); backing off {DelayMs} ms")]
    public static partial void UdpReceiveFailed(ILogger logger, string listen, string error, int delayMs);
}
