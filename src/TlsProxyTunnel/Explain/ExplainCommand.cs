using System.Text;
using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Dns;

namespace TlsProxyTunnel.Explain;

/// <summary>
/// <c>tpt explain</c>: explains the input against a loaded configuration, resolves the upstreams it leads to with
/// tpt's own resolver and the file's <c>resolver</c> settings, and prints the result. Exit codes: 0 explained,
/// 1 configuration error (the caller's), 2 usage.
/// </summary>
internal static class ExplainCommand
{
    /// <summary>Far above any ClientHello a server accepts (client_hello_max_bytes is at most 1 MiB).</summary>
    private const int MaxHelloFileBytes = 2 * 1024 * 1024;

    /// <summary>The name or the hello file's bytes; null with <paramref name="error"/> when the file cannot be read.</summary>
    public static ExplainInput? Input(CliOptions options, out string? error)
    {
        ArgumentNullException.ThrowIfNull(options);
        error = null;
        if (options.ExplainName is { } name)
        {
            return ExplainInput.ForName(name);
        }

        var path = options.HelloPath!;
        try
        {
            if (new FileInfo(path).Length > MaxHelloFileBytes)
            {
                error = $"--hello {DiagnosticText.Quote(path)} is larger than {MaxHelloFileBytes / (1024 * 1024)} MiB; a ClientHello is a few hundred bytes";
                return null;
            }

            return ExplainInput.ForHello(File.ReadAllBytes(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var reason = Directory.Exists(path) ? "it is a directory" : e is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist" : e.Message;
            error = $"cannot read --hello {DiagnosticText.Quote(path)}: {reason}";
            return null;
        }
    }

    /// <param name="engine">The process default (<c>TPT_ENGINE</c>, already checked), for each server's engine.</param>
    public static async Task<int> RunAsync(ProxyConfig config, ExplainInput input, bool json, TextWriter stdout, EngineChoice engine = EngineChoice.Auto)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(stdout);
        var explanation = RouteExplainer.Explain(config, input, engine);
        var addresses = await ResolveAsync(config.Resolver, explanation);
        if (json)
        {
            using var buffer = new MemoryStream();
            ExplanationWriter.WriteJson(explanation, addresses, buffer);
            await stdout.WriteLineAsync(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        }
        else
        {
            ExplanationWriter.WriteText(explanation, addresses, stdout);
        }

        await stdout.FlushAsync();
        return 0;
    }

    /// <summary>Every shown <c>tcp://</c> upstream, resolved now, at once.</summary>
    private static async Task<IReadOnlyDictionary<string, ResolveResult>> ResolveAsync(ResolverSettings settings, Explanation explanation)
    {
        var upstreams = explanation.Servers
            .Select(s => s.Upstream?.Config)
            .OfType<UpstreamConfig>()
            .Where(u => u.Kind == UpstreamKind.Tcp && !u.ConnectsToOriginalDestination)
            .DistinctBy(u => u.Name)
            .ToList();
        if (upstreams.Count == 0)
        {
            return new Dictionary<string, ResolveResult>();
        }

        using var resolver = new DnsHostResolver(settings);

        // The resolver bounds each lookup by resolver.timeout; this bound only keeps a bug from hanging the command.
        var limit = settings.Timeout + settings.Timeout + TimeSpan.FromSeconds(5);
        var lookups = upstreams.Select(async u =>
        {
            try
            {
                return (u.Name, await resolver.ResolveAsync(HostToResolve.Of(u), u.Family, default).AsTask().WaitAsync(limit));
            }
            catch (TimeoutException)
            {
                return (u.Name, ResolveResult.Failure($"no answer within {limit.TotalSeconds:0.#}s"));
            }
        });
        return (await Task.WhenAll(lookups)).ToDictionary(r => r.Item1, r => r.Item2, StringComparer.Ordinal);
    }
}
