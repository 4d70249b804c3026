using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Hosting;

internal static class LoggingSetup
{
    public const string LevelVariable = "TPT_LOG";

    /// <summary>Parses the level vocabulary shared by <c>log:</c> and TPT_LOG.</summary>
    public static bool TryParseLevel(string text, out LogLevel level)
    {
        level = text.Trim().ToLowerInvariant() switch
        {
            "trace" => LogLevel.Trace,
            "debug" => LogLevel.Debug,
            "info" or "information" => LogLevel.Information,
            "warn" or "warning" => LogLevel.Warning,
            "error" => LogLevel.Error,
            "off" or "disable" or "none" => LogLevel.None,
            _ => (LogLevel)(-1),
        };
        return level >= 0;
    }

    public static LogLevel ToLogLevel(LogLevelSetting setting) => setting switch
    {
        LogLevelSetting.Trace => LogLevel.Trace,
        LogLevelSetting.Debug => LogLevel.Debug,
        LogLevelSetting.Info => LogLevel.Information,
        LogLevelSetting.Warn => LogLevel.Warning,
        LogLevelSetting.Error => LogLevel.Error,
        _ => LogLevel.None,
    };

    /// <summary>
    /// Level precedence, lowest first: the config's <c>log</c>, then the usual .NET configuration
    /// (<c>Logging__LogLevel__Default</c>), then TPT_LOG. Everything goes to stderr, as tls-proxy-tunnel does.
    /// </summary>
    public static void Configure(ILoggingBuilder logging, IConfiguration configuration, ProxyConfig config, LogLevel? overrideLevel)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(ToLogLevel(config.Log));
        logging.AddConfiguration(configuration.GetSection("Logging"));
        if (overrideLevel is { } level)
        {
            logging.AddFilter(l => l >= level);
        }

        // The host's own lifecycle chatter is noise in a proxy's log.
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);

        if (config.LogFormat == LogFormat.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.IncludeScopes = false;
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.IncludeScopes = false;
            });
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
}
