using System.Runtime.CompilerServices;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// Raises the test process's thread-pool floor. Several helpers block a pool thread for as long as a peer process
/// runs (openssl, haproxy, scripted backends reading synchronously), and on a 2-core machine the pool starts with two
/// threads and adds about one a second once starved: a test's own reads of a peer's output (LineJournal) could
/// then wait many seconds for a thread, which looked like the peer never printing its line.
/// </summary>
internal static class ThreadPoolFloor
{
#pragma warning disable CA2255 // A test assembly, loaded by the test host only: the floor must be set before any test runs.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Raise()
    {
        ThreadPool.GetMinThreads(out var workers, out var completion);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(completion, 64));
    }
}
