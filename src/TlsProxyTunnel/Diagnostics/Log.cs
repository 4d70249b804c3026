using Microsoft.Extensions.Logging;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// Every log line of the service, source-generated so disabled levels cost nothing on the hot path.
/// None of these take a header value or an environment-expanded string: upstreams and targets are logged
/// in the form the configuration file wrote them.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "tpt {Version} using configuration {ConfigPath}")]
    public static partial void Starting(ILogger logger, string version, string configPath);

    /// <param name="engine">The engine the server's connections run on (<see cref="Engine.EngineSelection.Name"/>).</param>
    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Listening: server {Server} on {Listen} (tls={Tls}, maxclients={MaxClients}, engine={Engine})")]
    public static partial void Listening(ILogger logger, string server, string listen, bool tls, int maxClients, string engine);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Accepting on {Listen} failed ({Error}); backing off {DelayMs} ms ({Suppressed} similar errors not logged)")]
    public static partial void AcceptFailed(ILogger logger, string listen, string error, int delayMs, long suppressed);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "maxclients ({MaxClients}) reached on server {Server}; rejected {Client} ({Suppressed} similar rejections not logged)")]
    public static partial void Rejected(ILogger logger, string server, int maxClients, string client, long suppressed);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information,
        Message = "client={Client} server={Server} listen={Listen} sni={Sni} hello={Hello} route={Route} upstream={Upstream} upstream_addr={UpstreamAddress} rx={BytesFromClient} tx={BytesToClient} duration_ms={DurationMs} outcome={Outcome}")]
    public static partial void Access(ILogger logger, string client, string server, string listen, string sni, string hello, string route, string upstream, string upstreamAddress, long bytesFromClient, long bytesToClient, long durationMs, string outcome);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Server {Server}: upstream {Upstream} unreachable: {Error}")]
    public static partial void UpstreamUnreachable(ILogger logger, string server, string upstream, string error);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "Server {Server}: CONNECT {Target} via {Proxy} refused: {Status} {Reason}")]
    public static partial void ProxyRefused(ILogger logger, string server, string proxy, string target, int status, string reason);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "Server {Server}: CONNECT {Target} via {Proxy} failed: {Failure}")]
    public static partial void ProxyFailed(ILogger logger, string server, string proxy, string target, string failure);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "Server {Server}: upstream {Upstream} has use_sni_as_target but the client sent no valid SNI and no static target is set; closing")]
    public static partial void NoConnectTarget(ILogger logger, string upstream, string server);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "[relay:{Server} {UpstreamAddress} -> {Target}] in-flight tx={BytesFromClient} rx={BytesToClient}")]
    public static partial void InFlight(ILogger logger, string server, string upstreamAddress, string target, long bytesFromClient, long bytesToClient);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "Shutting down: stopped accepting (health servers answer until the drain ends); draining {Active} connections for up to {DrainSeconds} s")]
    public static partial void Draining(ILogger logger, int active, double drainSeconds);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "Drain ended ({Reason}); closing {Active} remaining connections")]
    public static partial void DrainCut(ILogger logger, string reason, int active);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "Shutdown complete")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 15, Level = LogLevel.Error, Message = "Connection {Id} failed unexpectedly")]
    public static partial void ConnectionCrashed(ILogger logger, long id, Exception exception);

    [LoggerMessage(EventId = 16, Level = LogLevel.Warning, Message = "{Signal} received during the drain: closing every connection now")]
    public static partial void SecondSignal(ILogger logger, string signal);

    [LoggerMessage(EventId = 17, Level = LogLevel.Warning, Message = "Configuration: {Diagnostic}")]
    public static partial void ConfigWarning(ILogger logger, string diagnostic);

    [LoggerMessage(EventId = 18, Level = LogLevel.Warning, Message = "Near the open-file limit ({Limit}) on server {Server}: rejected {Client} to keep {Reserve} descriptors in reserve ({Suppressed} similar rejections not logged)")]
    public static partial void RejectedForDescriptors(ILogger logger, string server, long limit, string client, int reserve, long suppressed);

    [LoggerMessage(EventId = 37, Level = LogLevel.Information, Message = "Open-file limit changed from {Before} to {Now}")]
    public static partial void FileLimitChanged(ILogger logger, long before, long now);

    [LoggerMessage(EventId = 19, Level = LogLevel.Error, Message = "Accept loop on {Listen} hit an unexpected error; backing off {DelayMs} ms")]
    public static partial void AcceptLoopError(ILogger logger, string listen, int delayMs, Exception exception);

    // Issue #11, TLS that tpt speaks itself: an access line with the TLS fields, and one line per failed handshake
    // naming the check that failed. Extra is empty, or what a pooled upstream (" pool=hit") or a server with filters
    // (" pool=- filtered_in=A->B filtered_out=C->D") adds after the TLS fields: one line shape, one place.
    [LoggerMessage(EventId = 60, Level = LogLevel.Information,
        Message = "client={Client} server={Server} listen={Listen} sni={Sni} hello={Hello} route={Route} upstream={Upstream} upstream_addr={UpstreamAddress} rx={BytesFromClient} tx={BytesToClient} duration_ms={DurationMs} outcome={Outcome} tls={TlsVersion} tls_cipher={TlsCipher} alpn={Alpn} client_cert={ClientCertificate} upstream_tls={UpstreamTls}{Extra}")]
    public static partial void AccessTls(ILogger logger, string client, string server, string listen, string sni, string hello, string route, string upstream, string upstreamAddress, long bytesFromClient, long bytesToClient, long durationMs, string outcome, string tlsVersion, string tlsCipher, string alpn, string clientCertificate, string upstreamTls, string extra);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Server {Server}: TLS handshake with client {Client} (sni {Sni}) failed: {Result}: {Reason}")]
    public static partial void ClientTlsFailed(ILogger logger, string server, string client, string sni, string result, string reason);

    [LoggerMessage(EventId = 62, Level = LogLevel.Warning, Message = "Server {Server}: TLS handshake with upstream {Upstream} (server name {ServerName}) failed: {Result}: {Reason}")]
    public static partial void UpstreamTlsFailed(ILogger logger, string server, string upstream, string serverName, string result, string reason);

    [LoggerMessage(EventId = 65, Level = LogLevel.Debug, Message = "Server {Server}: client {Client} (sni {Sni}) went away during the TLS handshake: {Reason}")]
    public static partial void ClientLeftHandshake(ILogger logger, string server, string client, string sni, string reason);

    [LoggerMessage(EventId = 63, Level = LogLevel.Warning, Message = "Server {Server}: upstream {Upstream} ended the TLS session with an alert: {Alert}")]
    public static partial void UpstreamTlsAlert(ILogger logger, string server, string upstream, string alert);

    [LoggerMessage(EventId = 64, Level = LogLevel.Warning, Message = "Server {Server}: client {Client} ended the TLS session with an alert: {Alert}")]
    public static partial void ClientTlsAlert(ILogger logger, string server, string client, string alert);

    // Issue #12, transparent mode: a client that was not redirected (debug: the access line has the outcome, and any
    // client can cause one), an original_dst upstream reached without a destination.
    [LoggerMessage(EventId = 120, Level = LogLevel.Debug, Message = "Server {Server}: no original destination for client {Client}, closing it: {Reason}")]
    public static partial void NoOriginalDestination(ILogger logger, string server, string client, string reason);

    [LoggerMessage(EventId = 121, Level = LogLevel.Warning, Message = "Server {Server}: upstream {Upstream} connects to the original destination, but client {Client} has none; closing")]
    public static partial void OriginalDestinationMissing(ILogger logger, string server, string upstream, string client);

    [LoggerMessage(EventId = 90, Level = LogLevel.Warning, Message = "Server {Server}: PROXY header from {Peer} is not valid: {Reason}; closing")]
    public static partial void ProxyHeaderInvalid(ILogger logger, string server, string peer, string reason);

    [LoggerMessage(EventId = 91, Level = LogLevel.Debug, Message = "Server {Server}: {Peer} sent no PROXY header: {Reason}; closing")]
    public static partial void ProxyHeaderMissing(ILogger logger, string server, string peer, string reason);

    [LoggerMessage(EventId = 92, Level = LogLevel.Debug, Message = "Server {Server}: PROXY {Header} from {Peer}: client {Client}, destination {Destination}")]
    public static partial void ProxyHeaderRead(ILogger logger, string server, string header, string peer, string client, string destination);

    [LoggerMessage(EventId = 36, Level = LogLevel.Information, Message = "Load fell to {Live} connections: returned memory to the OS (resident {BeforeMiB} MiB -> {AfterMiB} MiB)")]
    public static partial void MemoryTrimmed(ILogger logger, int live, long beforeMiB, long afterMiB);

    [LoggerMessage(EventId = 150, Level = LogLevel.Error, Message = "Capture {Path}: cannot open: {Error}; traffic goes on uncaptured until a restart or a reload that names another file")]
    public static partial void CaptureOpenFailed(ILogger logger, string path, string error);

    [LoggerMessage(EventId = 151, Level = LogLevel.Error, Message = "Capture {Path}: writing failed: {Error}; the capture stops here (traffic goes on; further chunks are counted as dropped)")]
    public static partial void CaptureWriteFailed(ILogger logger, string path, string error);

    [LoggerMessage(EventId = 153, Level = LogLevel.Warning, Message = "Capture {Path}: closed with {Dropped} chunk(s) not written because writing had failed")]
    public static partial void CaptureDropped(ILogger logger, string path, long dropped);


    [LoggerMessage(EventId = 152, Level = LogLevel.Information, Message = "Capture {Path}: writing ({Mode})")]
    public static partial void CaptureOpened(ILogger logger, string path, string mode);

    // Warm pools (upstream.NAME.pool): 160-169.
    [LoggerMessage(EventId = 160, Level = LogLevel.Information, Message = "Pool of upstream {Upstream}: {Ready} of {Size} connections ready")]
    public static partial void PoolReady(ILogger logger, string upstream, int ready, int size);

    [LoggerMessage(EventId = 161, Level = LogLevel.Warning, Message = "Pool of upstream {Upstream}: a connection attempt failed: {Error}; that slot tries again in {BackoffMs} ms")]
    public static partial void PoolDialFailed(ILogger logger, string upstream, string error, long backoffMs);

    [LoggerMessage(EventId = 162, Level = LogLevel.Debug, Message = "Pool of upstream {Upstream}: a connection attempt failed again: {Error}")]
    public static partial void PoolDialFailedAgain(ILogger logger, string upstream, string error);

    [LoggerMessage(EventId = 163, Level = LogLevel.Debug, Message = "Pool of upstream {Upstream}: an idle connection to {Address} {Event}")]
    public static partial void PoolIdleEvent(ILogger logger, string upstream, string address, string @event);

    [LoggerMessage(EventId = 164, Level = LogLevel.Warning, Message = "Server {Server}: no pooled connection to upstream {Upstream} within wait_timeout ({WaitMs} ms); closing the client")]
    public static partial void PoolWaitTimedOut(ILogger logger, string server, string upstream, long waitMs);

    [LoggerMessage(EventId = 165, Level = LogLevel.Warning, Message = "Server {Server}: pool of upstream {Upstream} has no idle connection and {Waiters} clients waiting (max_waiters); closing the client")]
    public static partial void PoolFull(ILogger logger, string server, string upstream, int waiters);

    [LoggerMessage(EventId = 166, Level = LogLevel.Information, Message = "Pool of upstream {Upstream}: closed ({Reason}), {Idle} idle connections closed")]
    public static partial void PoolClosed(ILogger logger, string upstream, string reason, int idle);

    [LoggerMessage(EventId = 168, Level = LogLevel.Warning, Message = "Server {Server}: pool of upstream {Upstream} is closed (its configuration was replaced or tpt is stopping); closing the client")]
    public static partial void PoolGone(ILogger logger, string server, string upstream);

    [LoggerMessage(EventId = 170, Level = LogLevel.Warning, Message = "The Linux engine could not start ({Reason}); servers set to it run on System.Net.Sockets")]
    public static partial void EngineUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 171, Level = LogLevel.Error, Message = "A Linux engine loop caught an unexpected error; the connection concerned was cut, the loop goes on")]
    public static partial void EngineHandlerFailed(ILogger logger, Exception error);
}
