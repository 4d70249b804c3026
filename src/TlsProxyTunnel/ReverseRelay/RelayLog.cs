using Microsoft.Extensions.Logging;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>The reverse relay's log lines (issue #14), kept apart from Diagnostics/Log.cs; event ids 1400-1449.</summary>
internal static partial class RelayLog
{
    [LoggerMessage(EventId = 1400, Level = LogLevel.Information, Message = "Relay: server {Server} control on {Control}, reverse ports {ReverseFirst}-{ReverseLast}, public ports {PublicFirst}-{PublicLast} on {Bind}, advertised as {Host}")]
    public static partial void Ports(ILogger logger, string server, string control, int reverseFirst, int reverseLast, int publicFirst, int publicLast, string bind, string host);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Relay: server {Server} linked control session {Client} to pair {Pair}: public {Host}:{PublicPort}, reverse {Host}:{ReversePort}")]
    public static partial void Linked(ILogger logger, string server, string client, int pair, string host, int publicPort, int reversePort);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Relay: server {Server} has no free pair for control session {Client}; sent no_available_listeners")]
    public static partial void Full(ILogger logger, string server, string client);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Information, Message = "Relay: server {Server} control session {Client} ended; pair {Pair} freed and its connections closed")]
    public static partial void Unlinked(ILogger logger, string server, string client, int pair);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Warning, Message = "Relay: server {Server} control session {Client} sent a line; ending it (ignore_control_input: false, as the original)")]
    public static partial void ControlInput(ILogger logger, string server, string client);

    [LoggerMessage(EventId = 1405, Level = LogLevel.Error, Message = "Relay: server {Server} accepting on data port {Port} failed ({Error}); retrying")]
    public static partial void AcceptFailed(ILogger logger, string server, int port, string error);

    [LoggerMessage(EventId = 1410, Level = LogLevel.Information, Message = "Publisher: server {Server} published through relay {Relay} at {PublicAddress} (reverse {ReverseAddress})")]
    public static partial void Published(ILogger logger, string server, string relay, string publicAddress, string reverseAddress);

    [LoggerMessage(EventId = 1411, Level = LogLevel.Warning, Message = "Publisher: server {Server}: control channel to relay {Relay} {Reason}; reconnecting in {BackoffMs} ms")]
    public static partial void Disconnected(ILogger logger, string server, string relay, string reason, long backoffMs);

    [LoggerMessage(EventId = 1412, Level = LogLevel.Warning, Message = "Publisher: server {Server}: reverse connection to {ReverseAddress} failed: {Error}")]
    public static partial void DialFailed(ILogger logger, string server, string reverseAddress, string error);

    [LoggerMessage(EventId = 1414, Level = LogLevel.Information, Message = "Publisher: server {Server} is gone from the configuration; its control channel is not reopened")]
    public static partial void PublisherRemoved(ILogger logger, string server);

    [LoggerMessage(EventId = 1420, Level = LogLevel.Warning, Message = "Reload: {What} of server {Server} take effect at the next restart")]
    public static partial void NeedsRestart(ILogger logger, string server, string what);

    [LoggerMessage(EventId = 1413, Level = LogLevel.Warning, Message = "Publisher: server {Server}: relay {Relay} sent an unknown line ({Line}); ignored")]
    public static partial void UnknownLine(ILogger logger, string server, string relay, string line);
}
