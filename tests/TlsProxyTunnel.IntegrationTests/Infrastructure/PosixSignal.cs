using System.Runtime.InteropServices;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>kill(2) without a `kill` binary, which minimal images (no procps) do not have.</summary>
public static partial class PosixSignal
{
    public static void Send(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
