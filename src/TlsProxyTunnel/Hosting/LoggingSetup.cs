using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Hosting;

internal static class LoggingSetup
{
    public const string LevelVariable = "TPT_LOG";

    /// <summary>tls-proxy-tunnel's variable (env_logger's); read when TPT_LOG is unset.</summary>
    public const string RustVariable = "RUST_LOG";

    /// <summary>
    /// Precedence, lowest first: the config's <c>log</c>, then the usual .NET configuration
    /// (<c>Logging__LogLevel__Default</c>), then TPT_LOG or RUST_LOG (<paramref name="environmentFilter"/>), which
    /// replaces the config's filter whole, as RUST_LOG replaces tls-proxy-tunnel's. Everything goes to stderr, as
    /// tls-proxy-tunnel does.
    /// </summary>
    public static void Configure(ILoggingBuilder logging, IConfiguration configuration, ProxyConfig config, LogFilter? environmentFilter)
    {
        logging.ClearProviders();
        if (environmentFilter is null)
        {
            AddRules(logging, config.Log);
            logging.AddConfiguration(configuration.GetSection("Logging"));
        }
        else
        {
            // Added after the .NET configuration so that its rules, being as specific and later, win.
            logging.AddConfiguration(configuration.GetSection("Logging"));
            AddRules(logging, environmentFilter);
        }

        // The host's own lifecycle chatter is noise in a proxy's log.
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);

        switch (config.LogFormat)
        {
            case LogFormat.Json:
                logging.AddConsole(o => o.FormatterName = TlsProxyTunnelJsonFormatter.FormatterName);

                // Registered as an instance: no options binding, nothing for the trimmer to lose under Native AOT.
                logging.Services.AddSingleton<ConsoleFormatter>(new TlsProxyTunnelJsonFormatter(TimeProvider.System));
                break;
            case LogFormat.JsonDotnet:
                logging.AddJsonConsole(o =>
                {
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.IncludeScopes = false;
                });
                break;
            default:
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                    o.IncludeScopes = false;
                });
                break;
        }

        logging.Services.Configure<ConsoleLoggerOptions>(o =>
        {
            o.LogToStandardErrorThreshold = LogLevel.Trace;

            // Socket continuations run on the event thread (Program.cs): a full queue must drop lines, never block
            // that thread, or a slow stderr (a container log driver) would stall every connection. The logger
            // writes how many it dropped.
            o.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite;
            o.MaxQueueLength = 20_000;
        });
    }

    private static void AddRules(ILoggingBuilder logging, LogFilter filter)
    {
        logging.SetMinimumLevel(filter.Default);
        logging.AddFilter((string?)null, filter.Default);
        foreach (var (category, level) in filter.Rules)
        {
            logging.AddFilter(category, level);
        }
    }
}
