using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>
/// Runs every <c>relay_publisher</c> server: holds a control channel to its relay (reconnecting after <c>backoff</c>
/// when it fails or ends, which the original's client does not), and answers each <c>new_connection</c> with exactly
/// one reverse connection, handed to <see cref="ConnectionIntake"/> so it is routed like an accepted connection.
/// Each (re)connection reads the publisher's settings from the generation in use, so a reload that changes its
/// relay, TLS files or back-off applies at the next reconnect; a publisher server added by a reload starts at the
/// next restart (the reload says so).
/// </summary>
internal sealed class PublisherService(RuntimeSnapshot initial, Func<RuntimeSnapshot> current, ConnectionIntake intake, IHostResolver resolver, RelayMetrics metrics, ProxyMetrics proxyMetrics, ILoggerFactory loggers) : IHostedService, IDisposable
{
    // A line longer than this is not tx_tlsrelay's; the session is ended rather than buffered without end.
    private const int MaxLine = 1024;

    private readonly ILogger _logger = loggers.CreateLogger("TlsProxyTunnel.Publisher");
    private readonly UpstreamConnector _connector = new(resolver, new AddressRotation());
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var server in initial.Config.Servers)
        {
            if (server.Publisher is { } settings)
            {
                _running.Add(Task.Run(() => RunAsync(server.Name, settings, _stop.Token), CancellationToken.None));
            }
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // No new reverse connections from here; those already routed drain with the listeners' connections.
        await _stop.CancelAsync();
        await Task.WhenAll(_running).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task RunAsync(string server, PublisherSettings started, CancellationToken stop)
    {
        var counters = metrics.Publisher(server, started.Display);
        var settings = started;
        while (!stop.IsCancellationRequested)
        {
            // A reload may have changed the settings (or removed the server): the running generation decides.
            if (current().Servers.TryGetValue(server, out var running) && running.Config.Publisher is { } now)
            {
                settings = now;
            }
            else
            {
                RelayLog.PublisherRemoved(_logger, server);
                return;
            }

            var tls = settings.Control.Tls is null ? null : new UpstreamTlsClient(settings.Control);
            string reason;
            try
            {
                reason = await SessionAsync(server, settings, tls, counters, stop);
            }
            catch (Exception e) when (LegErrors.IsTransport(e))
            {
                reason = stop.IsCancellationRequested ? "closed for shutdown" : $"failed: {e.GetBaseException().Message}";
            }
            finally
            {
                counters.PublicAddress = null;
            }

            if (stop.IsCancellationRequested)
            {
                return;
            }

            RelayLog.Disconnected(_logger, server, settings.Display, reason, (long)settings.Backoff.TotalMilliseconds);
            try
            {
                await Task.Delay(settings.Backoff, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public void Dispose() => _stop.Dispose();

    /// <returns>Why the session ended.</returns>
    private async Task<string> SessionAsync(string server, PublisherSettings settings, UpstreamTlsClient? tls, PublisherMetrics counters, CancellationToken stop)
    {
        var attempt = await _connector.ConnectAsync(settings.Control, settings.ConnectTimeout);
        if (attempt.Socket is not { } socket)
        {
            return $"could not connect ({attempt.Error})";
        }

        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        await using var stream = tls is null ? (Stream)new NetworkStream(socket, ownsSocket: true) : new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        using var closeOnStop = stop.Register(() => socket.Dispose());
        if (stream is SslStream ssl)
        {
            var check = new UpstreamCertificateCheck(tls!.Settings, tls.TargetHostDisplay(null, null, settings.Display));
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
            deadline.CancelAfter(settings.ConnectTimeout);
            try
            {
                await ssl.AuthenticateAsClientAsync(tls.CreateOptions(tls.TargetHost(null, null), check), deadline.Token);
            }
            catch (Exception e) when (LegErrors.IsTransport(e))
            {
                var (result, why) = check.Result != TlsHandshakeResult.Ok ? (check.Result, check.Reason!) : TlsHandshakeResults.Classify(e, check.CertificateSeen);
                proxyMetrics.TlsHandshakes.On(TlsSide.Upstream, result);
                return $"TLS handshake failed ({TlsHandshakeResults.Label(result)}: {why})";
            }

            proxyMetrics.TlsHandshakes.On(TlsSide.Upstream, TlsHandshakeResult.Ok);
        }

        string? publicAddress = null;
        UpstreamConfig? reverse = null;
        var buffer = new byte[4096];
        var filled = 0;
        while (true)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), stop);
            if (read == 0)
            {
                return "closed by the relay";
            }

            filled += read;
            int newline;
            while ((newline = Array.IndexOf(buffer, (byte)'\n', 0, filled)) >= 0)
            {
                var line = Encoding.ASCII.GetString(buffer, 0, newline).TrimEnd('\r');
                Buffer.BlockCopy(buffer, newline + 1, buffer, 0, filled - newline - 1);
                filled -= newline + 1;

                var space = line.IndexOf(' ', StringComparison.Ordinal);
                var verb = space < 0 ? line : line[..space];
                var argument = space < 0 ? "" : line[(space + 1)..];
                switch (verb)
                {
                    case "public_listener":
                        publicAddress = argument;
                        break;
                    case "reverse_listener":
                        reverse = ReverseUpstream(server, argument);
                        if (reverse is null)
                        {
                            return $"sent a reverse_listener that is not host:port ({Printable(argument)})";
                        }

                        break;
                    case "new_connection":
                        if (reverse is null)
                        {
                            return "sent new_connection before reverse_listener";
                        }

                        _ = DialAsync(server, settings, reverse, counters);
                        continue;
                    case "no_available_listeners":
                        return "is full (no_available_listeners)";
                    default:
                        RelayLog.UnknownLine(_logger, server, settings.Display, Printable(line));
                        continue;
                }

                // Ready once both addresses are known, in either order (as the reference client).
                if (publicAddress is not null && reverse is not null && counters.PublicAddress is null)
                {
                    counters.PublicAddress = publicAddress;
                    counters.OnSession();
                    RelayLog.Published(_logger, server, settings.Display, Printable(publicAddress), reverse.Display);
                }
            }

            if (filled == buffer.Length || filled > MaxLine)
            {
                return "sent a line longer than tx_tlsrelay's";
            }
        }
    }

    private async Task DialAsync(string server, PublisherSettings settings, UpstreamConfig reverse, PublisherMetrics counters)
    {
        // Dialled on the Linux engine when the server's connections run there, so the pipeline takes it as it would
        // an accepted client (a reload may still change that before admission; the intake checks again).
        var loop = current().Servers.TryGetValue(server, out var runtime) && runtime.AdmitsToEngine ? LinuxEngine.Shared?.NextLoop() : null;
        var attempt = await _connector.ConnectAsync(reverse, settings.ConnectTimeout, loop);
        if (attempt.Socket is not { } socket)
        {
            counters.OnDial(ok: false);
            RelayLog.DialFailed(_logger, server, reverse.Display, attempt.Error ?? "unknown");
            return;
        }

        counters.OnDial(ok: true);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        }
        catch (SocketException)
        {
            // Reset already: the pipeline below sees the closed socket and accounts for it.
        }

        // Listed under the relay it came through: one series per publisher, whichever reverse port the pair has.
        intake.TryAdmit(server, socket, new ListenAddress(attempt.EndPoint!, $"relay {settings.Display}"), attempt.Engine, attempt.EndPoint);
    }

    /// <summary>The reverse address as an upstream to dial: split at the last colon (as the reference client), brackets allowed.</summary>
    private static UpstreamConfig? ReverseUpstream(string server, string address)
    {
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return null;
        }

        var host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (host.Length == 0 || (host.Contains(':', StringComparison.Ordinal) && !IPAddress.TryParse(host, out _)))
        {
            return null;
        }

        return new UpstreamConfig { Name = $"{server} (reverse)", Kind = UpstreamKind.Tcp, Host = host, Port = port, Display = Printable(address) };
    }

    private static string Printable(string text) => PeerText.Printable(text.Length > 200 ? text[..200] : text);
}
