using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Reliability;
using TlsProxyTunnel.Soak;

// Soak: start tpt (the given tpt.dll) in front of an echo backend, hold N routed connections, churn new ones for
// the given minutes, verify every byte, then check that tpt's descriptors and memory come back to baseline.
var options = ParseArgs(args);
await using var backend = new EchoBackend();
var directory = Directory.CreateTempSubdirectory("tpt-soak-");
var configPath = Path.Combine(directory.FullName, "tpt.yaml");
File.WriteAllText(configPath, $"""
    version: 2
    log: info
    upstream:
      echo_backend: "tcp://127.0.0.1:{backend.Port}"
    servers:
      r:
        listen: ["127.0.0.1:0"]
        tls: true
        maxclients: {options.Hold + (options.Workers * 2) + 100}
        sni:
          soak.test: echo_backend
        default: ban
    """);

var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
info.ArgumentList.Add(options.Tpt);
info.ArgumentList.Add("-c");
info.ArgumentList.Add(configPath);
info.Environment.Remove("TPT_LOG");
using var tpt = Process.Start(info)!;
var listening = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
var trimmed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
long routerErrors = 0;
var engine = "?";
var errorSamples = new List<string>();
var stderr = Task.Run(async () =>
{
    while (await tpt.StandardError.ReadLineAsync() is { } line)
    {
        var match = Regex.Match(line, @"Listening: server r on (\S+) \(.*engine=(\w+)");
        if (match.Success)
        {
            engine = match.Groups[2].Value;
            listening.TrySetResult(IPEndPoint.Parse(match.Groups[1].Value));
        }

        if (line.Contains("returned memory to the OS", StringComparison.Ordinal))
        {
            trimmed.TrySetResult();
        }

        // Router-caused trouble: errors, crashes, and access lines whose outcome blames the router or the backend.
        if (line.Contains(" fail:", StringComparison.Ordinal) || line.Contains(" crit:", StringComparison.Ordinal)
            || Regex.IsMatch(line, "outcome=(upstream_error|upstream_unreachable|unknown)"))
        {
            if (Interlocked.Increment(ref routerErrors) <= 10)
            {
                lock (errorSamples)
                {
                    errorSamples.Add(line);
                }
            }
        }
    }
});
_ = tpt.StandardOutput.ReadToEndAsync();
var router = await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
var pid = tpt.Id;
var fdsBaseline = Fds(pid);
var socketsBaseline = Sockets(pid);
var rssBaseline = Rss(pid);
Console.WriteLine($"tpt pid {pid} on {router}; backend :{backend.Port}; fds {fdsBaseline}, RSS {rssBaseline} KiB; soft NOFILE {Limit()}");

var peakFds = fdsBaseline;
var peakRss = rssBaseline;
using var sampling = new CancellationTokenSource();
var sampler = Task.Run(async () =>
{
    while (!sampling.IsCancellationRequested)
    {
        peakFds = Math.Max(peakFds, Fds(pid));
        peakRss = Math.Max(peakRss, Rss(pid));
        await Task.Delay(1000, CancellationToken.None);
    }
});

var result = await SoakDriver.RunAsync(router, CraftedHello.WithSni("soak.test"), new SoakOptions(options.Hold, options.Workers, TimeSpan.FromMinutes(options.Minutes), options.MaxPayload), Console.WriteLine);
await sampling.CancelAsync();
await sampler;

// Descriptors come back as the last closes are processed; memory is read after a short settle.
var socketsEnd = Sockets(pid);
for (var waited = Stopwatch.StartNew(); socketsEnd > socketsBaseline && waited.Elapsed < TimeSpan.FromSeconds(30); socketsEnd = Sockets(pid))
{
    await Task.Delay(200);
}

// tpt hands its peak memory back once it sees the load gone (two samples 5 s apart); then RSS is read.
var trimSeen = await Task.WhenAny(trimmed.Task, Task.Delay(TimeSpan.FromSeconds(60))) == trimmed.Task;
var rssEnd = Rss(pid);
var fdsEnd = Fds(pid);
var alive = !tpt.HasExited;
tpt.Kill();
await tpt.WaitForExitAsync();
await stderr;
directory.Delete(recursive: true);

Console.WriteLine(result.ToString());
Console.WriteLine($"engine={engine} router_errors={routerErrors} sockets_baseline={socketsBaseline} sockets_end={socketsEnd} fds_baseline={fdsBaseline} fds_peak={peakFds} fds_end={fdsEnd} rss_baseline_kib={rssBaseline} rss_peak_kib={peakRss} rss_end_kib={rssEnd} memory_trimmed={trimSeen} tpt_alive={alive}");
foreach (var sample in result.ErrorSamples.Concat(errorSamples))
{
    Console.WriteLine("  " + sample);
}

var ok = result.Errors == 0 && routerErrors == 0 && alive && result.Held == options.Hold && result.HeldVerified == options.Hold
    && socketsEnd <= socketsBaseline && trimSeen
    // What stays above the baseline is code the JIT tiered up and stacks of threads the pool added under load.
    && rssEnd <= rssBaseline + (24 * 1024);
Console.WriteLine(ok ? "SOAK PASSED" : "SOAK FAILED");
return ok ? 0 : 1;

static int Fds(int pid) => Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();

static int Sockets(int pid) => Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count(fd =>
{
    try
    {
        return new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true;
    }
    catch (IOException)
    {
        return false;
    }
});

static long Rss(int pid)
{
    var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
    return long.Parse(line[6..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
}

static string Limit() => File.ReadLines("/proc/self/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal))["Max open files".Length..].Trim();

static (string Tpt, int Hold, int Workers, double Minutes, int MaxPayload) ParseArgs(string[] args)
{
    var map = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        map[args[i]] = args[i + 1];
    }

    return (
        map.GetValueOrDefault("--tpt") ?? throw new ArgumentException("--tpt PATH/tpt.dll is required"),
        int.Parse(map.GetValueOrDefault("--hold", "5000"), CultureInfo.InvariantCulture),
        int.Parse(map.GetValueOrDefault("--workers", "32"), CultureInfo.InvariantCulture),
        double.Parse(map.GetValueOrDefault("--minutes", "10"), CultureInfo.InvariantCulture),
        int.Parse(map.GetValueOrDefault("--max-payload", "1048576"), CultureInfo.InvariantCulture));
}
