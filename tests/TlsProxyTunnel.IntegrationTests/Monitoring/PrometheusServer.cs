using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>
/// A real Prometheus (Debian's prometheus package) with its own configuration and a temporary TSDB, killed and
/// removed on dispose. Its web listener has no port 0, so it gets a port that was free a moment ago and is
/// started again on another one if that port was taken in between.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>What Prometheus logs once its web listener serves: the signal it is ready.</summary>
    private const string ReadyLine = "Server is ready to receive web requests.";

    private readonly Process _process;
    private readonly StringBuilder _output;
    private readonly TaskCompletionSource _ready;
    private readonly string _directory;
    private readonly HttpClient _http;

    private PrometheusServer(Process process, StringBuilder output, TaskCompletionSource ready, string directory, int port)
    {
        _process = process;
        _output = output;
        _ready = ready;
        _directory = directory;
        Port = port;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public int Port { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts Prometheus scraping <paramref name="target"/> (job <c>tpt</c>) every second, with <paramref name="ruleFiles"/> loaded.</summary>
    public static Task<PrometheusServer> StartAsync(IPEndPoint target, params string[] ruleFiles) =>
        StartAsync(target, FreePort.Tcp, ruleFiles);

    /// <param name="ports">Where to try to listen, one call per attempt (a test hands it a taken port first).</param>
    internal static async Task<PrometheusServer> StartAsync(IPEndPoint target, Func<int> ports, params string[] ruleFiles)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"tpt-prometheus-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var config = Path.Combine(directory, "prometheus.yml");
        var rules = string.Concat(ruleFiles.Select(f => $"\n  - \"{f}\""));
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:{(ruleFiles.Length == 0 ? " []" : rules)}
            scrape_configs:
              - job_name: tpt
                static_configs:
                  - targets: ["{target}"]
            """);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var port = ports();
                var output = new StringBuilder();
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var process = Launch(config, Path.Combine(directory, $"data-{attempt}"), port, output, ready);
                var server = new PrometheusServer(process, output, ready, directory, port);
                try
                {
                    await server.WaitReadyAsync();
                    return server;
                }
                catch (PortTakenException) when (attempt < 5)
                {
                    // Another process took the port between FreePort and Prometheus binding it: rare, try another.
                    await server.StopAsync();
                }
                catch
                {
                    await server.DisposeAsync();
                    throw;
                }
            }
        }
        catch
        {
            TryDelete(directory);
            throw;
        }
    }

    /// <summary>An instant query through /api/v1/query: each series as its labels and value.</summary>
    public async Task<IReadOnlyList<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string query)
    {
        using var response = await _http.GetAsync(new Uri("/api/v1/query?query=" + Uri.EscapeDataString(query), UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"query {query}: {(int)response.StatusCode} {body}");
        using var json = JsonDocument.Parse(body);
        var result = new List<(Dictionary<string, string>, double)>();
        foreach (var series in json.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
            var value = double.Parse(series.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            result.Add((labels, value));
        }

        return result;
    }

    /// <summary>The rule groups Prometheus loaded, as /api/v1/rules reports them.</summary>
    public async Task<JsonDocument> RulesAsync()
    {
        var body = await _http.GetStringAsync(new Uri("/api/v1/rules", UriKind.Relative));
        return JsonDocument.Parse(body);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        TryDelete(_directory);
    }

    private async Task StopAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }

        _process.Dispose();
    }

    /// <summary>Waits for Prometheus's ready line or its exit (a taken port ends it with "address already in use").</summary>
    private async Task WaitReadyAsync()
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited).WaitAsync(StartTimeout);
        if (first == _ready.Task)
        {
            return;
        }

        // The exit happened; the output pumps deliver their last lines with it.
        if (Output.Contains("address already in use", StringComparison.Ordinal))
        {
            throw new PortTakenException();
        }

        throw new InvalidOperationException($"prometheus exited with {_process.ExitCode} before it was ready:\n{Output}");
    }

    private static Process Launch(string config, string data, int port, StringBuilder output, TaskCompletionSource ready)
    {
        var info = new ProcessStartInfo("prometheus")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[
            $"--config.file={config}",
            $"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=1h",
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=info"])
        {
            info.ArgumentList.Add(arg);
        }

        var process = Promtool.StartOrExplain(info);
        DataReceivedEventHandler received = (_, e) =>
        {
            Append(output, e.Data);
            if (e.Data?.Contains(ReadyLine, StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        process.OutputDataReceived += received;
        process.ErrorDataReceived += received;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class PortTakenException : Exception;
}
