using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Datagrams;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Diagnostics.Status;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Explain;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.ReverseRelay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Hosting;

/// <summary>Composition: command line → configuration → host → run. Returns the process exit code.</summary>
internal static class TptApp
{
    public static string Version =>
        typeof(TptApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static async Task<int> RunAsync(string[] args, Func<string, string?> environment, TextWriter stdout, TextWriter stderr)
    {
        // ptw's command line is a language of its own (its -c is a certificate, not a configuration file).
        if (args.Length > 0 && args[0] == "ptw")
        {
            return await PtwCommand.RunAsync(args[1..], environment, stdout, stderr);
        }

        if (args.Length > 0 && args[0] == "tlsrelay")
        {
            return await TlsRelayCommand.RunAsync(args[1..], environment, stdout, stderr);
        }

        if (args.Length > 0 && args[0] == "prox")
        {
            return await ProxCommand.RunAsync(args[1..], environment, stdout, stderr);
        }

        if (args.Length > 0 && args[0] == "capcat")
        {
            // Raw bytes: the console's stream itself, not a text writer that would re-encode them.
            if (ReferenceEquals(stdout, Console.Out))
            {
                await using var raw = Console.OpenStandardOutput();
                return CapcatCommand.Run(args[1..], raw, stdout, stderr);
            }

            using var buffer = new MemoryStream();
            var exit = CapcatCommand.Run(args[1..], buffer, stdout, stderr);
            await stdout.WriteAsync(System.Text.Encoding.Latin1.GetString(buffer.ToArray()));
            return exit;
        }

        // udp-over-tls-pool's command lines, likewise languages of their own.
        if (args.Length > 0 && args[0] is "uotp-client" or "uotp-server")
        {
            return await UotpCommand.RunAsync(args[0] == "uotp-client" ? UotpRole.Client : UotpRole.Server, args[1..], environment, stdout, stderr);
        }

        var options = CommandLine.Parse(args);
        if (options.Error is not null)
        {
            await stderr.WriteLineAsync($"tpt: {options.Error}\nRun 'tpt --help' for usage.");
            return options.ErrorExitCode;
        }

        switch (options.Command)
        {
            case CliCommand.Help:
                await stdout.WriteLineAsync(CommandLine.Usage);
                return 0;
            case CliCommand.Version:
                await stdout.WriteLineAsync($"tpt {Version}");
                return 0;
        }

        // Read before the configuration: a --hello file that cannot be read is a usage error (2), not a config error.
        ExplainInput? explainInput = null;
        if (options.Command == CliCommand.Explain)
        {
            explainInput = ExplainCommand.Input(options, out var inputError);
            if (explainInput is null)
            {
                await stderr.WriteLineAsync($"tpt: {inputError}");
                return 2;
            }
        }

        var location = ConfigFileLocator.Locate(options.ConfigPath, environment, File.Exists, Directory.Exists);
        if (location.Path is null)
        {
            await stderr.WriteLineAsync($"tpt: {location.Error}");
            return 1;
        }

        var loaded = ConfigLoader.Load(location.Path, environment);
        foreach (var diagnostic in loaded.Diagnostics)
        {
            await stderr.WriteLineAsync(diagnostic.ToString());
        }

        if (loaded.Config is not { } config)
        {
            await stderr.WriteLineAsync($"tpt: configuration {location.Path} has {loaded.ErrorCount} error(s); nothing was started");
            return 1;
        }

        // Parsed for check too, so that its warnings (directives tpt cannot map) are seen before a deployment.
        var environmentFilter = await EnvironmentLogFilterAsync(environment, stderr);
        if (environmentFilter.Failed)
        {
            return 1;
        }

        // Checked for check and explain too: they show each server's engine, and a deployment should hear of a bad value first.
        var engine = await EnvironmentEngineAsync(environment, stderr);
        if (engine.Failed)
        {
            return 1;
        }

        if (explainInput is not null)
        {
            return await ExplainCommand.RunAsync(config, explainInput, options.Json, stdout, engine.Choice);
        }

        if (options.Command == CliCommand.Check)
        {
            ConfigSummary.Write(config, stdout, engine.Choice);
            await stdout.WriteLineAsync($"configuration {location.Path} is valid");
            return 0;
        }

        return await RunServiceAsync(config, new ReloadOptions(location.Path, environment, options.Watch) { Engine = engine.Choice }, environmentFilter.Filter, stderr);
    }

    /// <summary>The variable that sets the engine of every server without an <c>engine</c> of its own.</summary>
    public const string EngineVariable = "TPT_ENGINE";

    /// <summary>
    /// TPT_ENGINE (auto, linux or sockets, in any case; unset or empty is auto). A value that is none of them, or
    /// <c>linux</c> where the Linux engine cannot run, is a start-up error: nothing is bound.
    /// </summary>
    /// <param name="linuxSupported">Whether the Linux engine can run; <see cref="Engine.Linux.LinuxEngine.IsSupported"/> when null.</param>
    internal static async Task<(EngineChoice Choice, bool Failed)> EnvironmentEngineAsync(Func<string, string?> environment, TextWriter stderr, bool? linuxSupported = null)
    {
        if (environment(EngineVariable) is not { } text || string.IsNullOrWhiteSpace(text))
        {
            return (EngineChoice.Auto, false);
        }

        if (!EngineChoiceNames.TryParse(text, out var choice))
        {
            // The value is the operator's own and not secret, but a pasted secret would be: cut and escaped.
            await stderr.WriteLineAsync($"tpt: {EngineVariable} must be one of {EngineChoiceNames.Accepted}, got {DiagnosticText.Quote(text.Trim(), 32)}; nothing was started");
            return (EngineChoice.Auto, true);
        }

        if (!Engine.EngineSelection.TryResolve(EngineChoice.Auto, choice, linuxSupported ?? Engine.Linux.LinuxEngine.IsSupported, out _, out var error))
        {
            await stderr.WriteLineAsync($"tpt: {EngineVariable}=linux: {error}; nothing was started");
            return (EngineChoice.Auto, true);
        }

        return (choice, false);
    }

    /// <summary>
    /// TPT_LOG, else RUST_LOG (tls-proxy-tunnel's), in the same filter syntax as <c>log:</c>; an empty value counts
    /// as unset. Null filter when neither is set.
    /// </summary>
    internal static async Task<(LogFilter? Filter, bool Failed)> EnvironmentLogFilterAsync(Func<string, string?> environment, TextWriter stderr)
    {
        foreach (var variable in (string[])[LoggingSetup.LevelVariable, LoggingSetup.RustVariable])
        {
            if (environment(variable) is not { } text || string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            var parsed = LogFilterParser.Parse(text);
            foreach (var warning in parsed.Warnings)
            {
                await stderr.WriteLineAsync($"tpt: warning: {variable}: {warning}");
            }

            foreach (var error in parsed.Errors)
            {
                await stderr.WriteLineAsync($"tpt: {variable}: {error}");
            }

            return (parsed.Filter, parsed.Filter is null);
        }

        return (null, false);
    }

    /// <param name="configure">Additions of a command that runs a configuration of its own (<c>tpt prox -1</c>).</param>
    internal static async Task<int> RunServiceAsync(ProxyConfig config, ReloadOptions reload, LogFilter? environmentFilter, TextWriter stderr, Action<HostApplicationBuilder>? configure = null)
    {
        // No defaults: an appsettings.json that happens to sit in the working directory must not change the proxy.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddEnvironmentVariables();

        // Under systemd (Type=notify): READY=1 once every listener is bound, STOPPING=1 on shutdown; outside it, nothing.
        // Before LoggingSetup so that its text/json formatter wins over the systemd one AddSystemd would pick.
        builder.Services.AddSystemd();
        LoggingSetup.Configure(builder.Logging, builder.Configuration, config, environmentFilter);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = config.ShutdownTimeout + TimeSpan.FromSeconds(10));
        AddServices(builder.Services, config, reload);
        configure?.Invoke(builder);

        using var host = builder.Build();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("TlsProxyTunnel");
        Log.Starting(logger, Version, config.SourcePath);
        if ((host.Services.GetRequiredService<ListenerService>().BindAtStart() ?? host.Services.GetRequiredService<RelayService>().BindAtStart() ?? host.Services.GetRequiredService<UdpListenerService>().BindAtStart()) is { } bindError)
        {
            await stderr.WriteLineAsync($"tpt: {bindError}");
            return 1;
        }

        try
        {
            await host.RunAsync();
            return 0;
        }
        catch (StartupException e)
        {
            await stderr.WriteLineAsync($"tpt: {e.Message}");
            return 1;
        }
    }

    internal static void AddServices(IServiceCollection services, ProxyConfig config, ReloadOptions reload)
    {
        services.AddSingleton(reload);
        // The metrics own their families: the resolver's and the process's are handed over here, once.
        services.AddSingleton<RelayMetrics>();
        services.AddSingleton<RelayHubs>();
        services.AddSingleton(sp => new ProxyMetrics(
            new DnsMetrics(sp.GetRequiredService<DnsHostResolver>().Counters),
            new ProcessMetrics(sp.GetRequiredService<MemoryTrimmer>()),
            sp.GetRequiredService<RelayMetrics>(),
            new EngineMetrics(() => sp.GetRequiredService<ListenerService>().Current)));
        services.AddSingleton<ReadinessState>();
        services.AddSingleton<ConnectionTracker>();
        services.AddSingleton(sp => new ConnectionHandler(
            sp.GetRequiredService<ConnectionTracker>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("TlsProxyTunnel.Access")));
        services.AddSingleton(sp => new DnsHostResolver(config.Resolver, TimeProvider.System, sp.GetRequiredService<ILoggerFactory>().CreateLogger<DnsHostResolver>()));
        services.AddSingleton(sp => new MemoryTrimmer(
            sp.GetRequiredService<ConnectionTracker>(),
            TimeProvider.System,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<MemoryTrimmer>()));
        services.AddSingleton<IHostResolver>(sp => sp.GetRequiredService<DnsHostResolver>());
        // The status page reads the generation in use from the listeners, which are built after it: look them up per request.
        services.AddSingleton(sp => new StatusCollector(
            sp.GetRequiredService<ProxyMetrics>(),
            sp.GetRequiredService<ReadinessState>(),
            () => sp.GetRequiredService<ListenerService>().Current,
            sp.GetRequiredService<DnsHostResolver>(),
            TimeProvider.System));
        services.AddSingleton(sp => new RuntimeSnapshotBuilder(
            sp.GetRequiredService<ProxyMetrics>(),
            sp.GetRequiredService<ReadinessState>(),
            sp.GetRequiredService<IHostResolver>(),
            sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<StatusCollector>(),
            sp.GetRequiredService<RelayHubs>(),
            engine: reload.Engine));
        services.AddSingleton(sp => sp.GetRequiredService<RuntimeSnapshotBuilder>().Build(config, previous: null));

        // Connections that do not come from a listener's accept (relay control ports, publishers' reverse dials).
        services.AddSingleton(sp => new ConnectionIntake(
            sp.GetRequiredService<ConnectionTracker>(),
            sp.GetRequiredService<ConnectionHandler>(),
            sp.GetRequiredService<ProxyMetrics>(),
            sp.GetRequiredService<ListenerService>()));
        services.AddSingleton<RelayService>();
        services.AddSingleton(sp => new PublisherService(
            sp.GetRequiredService<RuntimeSnapshot>(),
            () => sp.GetRequiredService<ListenerService>().Current,
            sp.GetRequiredService<ConnectionIntake>(),
            sp.GetRequiredService<IHostResolver>(),
            sp.GetRequiredService<RelayMetrics>(),
            sp.GetRequiredService<ProxyMetrics>(),
            sp.GetRequiredService<ILoggerFactory>()));

        // Registration order is start order: signals first, so a signal during start-up already shuts down cleanly.
        services.AddSingleton<ShutdownSignals>();
        services.AddHostedService(sp => sp.GetRequiredService<ShutdownSignals>());
        // The reloader starts before the listeners so a SIGHUP right after the first "Listening" line is never lost.
        services.AddSingleton<ListenerService>();
        services.AddSingleton<ConfigReloader>();
        services.AddHostedService(sp => sp.GetRequiredService<ConfigReloader>());
        services.AddHostedService(sp => sp.GetRequiredService<ListenerService>());
        services.AddSingleton<UdpListenerService>();
        services.AddHostedService(sp => sp.GetRequiredService<UdpListenerService>());

        // After the listeners: started once they are, stopped before their drain (a relay's control sessions and a
        // publisher's control channels never end on their own).
        services.AddHostedService(sp => sp.GetRequiredService<RelayService>());
        services.AddHostedService(sp => sp.GetRequiredService<PublisherService>());
        services.AddHostedService(sp => sp.GetRequiredService<MemoryTrimmer>());
    }
}
