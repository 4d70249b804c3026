using BenchmarkDotNet.Running;

namespace TlsProxyTunnel.Benchmarks;

internal static class Program
{
    public static async Task Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "connection-allocations")
        {
            await ConnectionAllocations.RunAsync(args);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
