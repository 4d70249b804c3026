using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Cli;

namespace TlsProxyTunnel.Hosting;

/// <summary>
/// <c>tpt prox ARGS</c>: prox.py's command line → the equivalent configuration → printed (<c>--print-config</c>) or run
/// as any configuration file is. With <c>-1</c> the process ends after the first connection, exiting 0 when it
/// completed and 1 otherwise.
/// </summary>
internal static class ProxCommand
{
    public static async Task<int> RunAsync(string[] args, Func<string, string?> environment, TextWriter stdout, TextWriter stderr)
    {
        var options = ProxCommandLine.Parse(args, out var error, out var help);
        if (help)
        {
            await stdout.WriteLineAsync(ProxCommandLine.Usage);
            return 0;
        }

        if (options is null)
        {
            // optparse's wording and exit code for a usage error.
            await stderr.WriteLineAsync($"usage: tpt prox [opts] addr port\n\ntpt prox: error: {error}");
            return 2;
        }

        var yaml = ProxConfigWriter.Write(options, Directory.GetCurrentDirectory());
        if (!options.OneShot)
        {
            return await GeneratedConfigRunner.PrintOrRunAsync("prox", yaml, options.PrintConfig, logFile: null, environment, stdout, stderr);
        }

        var first = new FirstConnectionWatch();
        var exit = await GeneratedConfigRunner.PrintOrRunAsync("prox", yaml, options.PrintConfig, logFile: null, environment, stdout, stderr, builder =>
        {
            builder.Logging.AddProvider(first);
            builder.Services.AddHostedService(sp => new StopAfterFirst(first, sp.GetRequiredService<IHostApplicationLifetime>()));
        });

        // No connection ended (printed, or stopped by a signal first) counts as completed.
        return exit != 0 ? exit : first.Outcome is null or "completed" ? 0 : 1;
    }

    /// <summary>Sees the access log line of the first connection (the one place every connection's end is told).</summary>
    private sealed class FirstConnectionWatch : ILoggerProvider, ILogger
    {
        private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> Ended => _ended.Task;

        public string? Outcome => _ended.Task.IsCompleted ? _ended.Task.Result : null;

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel == LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id is not (AccessEvents.Plain or AccessEvents.Tls) || state is not IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                return;
            }

            foreach (var (key, value) in fields)
            {
                if (key == "Outcome")
                {
                    _ended.TrySetResult(value?.ToString() ?? "");
                }
            }
        }

        public void Dispose()
        {
        }
    }

    private sealed class StopAfterFirst(FirstConnectionWatch watch, IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                await watch.Ended.WaitAsync(stoppingToken);
                lifetime.StopApplication();
            }
            catch (OperationCanceledException)
            {
                // Stopped before any connection ended (a signal).
            }
        }
    }
}

/// <summary>The event ids of the access log lines (<see cref="Diagnostics.Log.Access"/>, <see cref="Diagnostics.Log.AccessTls"/>).</summary>
internal static class AccessEvents
{
    public const int Plain = 6;
    public const int Tls = 60;
}
