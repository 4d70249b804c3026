using System.Runtime.InteropServices;

namespace TlsProxyTunnel.Engine.Linux;

/// <summary>
/// The Linux engine: one epoll loop per core, shared by every server that runs on it, started on first use and
/// living as long as the process. Connections are spread over the loops in turn.
/// </summary>
internal sealed class LinuxEngine
{
    private static readonly Lazy<LinuxEngine?> SharedEngine = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    private static string? _startError;

    private readonly EpollLoop[] _loops;
    private uint _next;

    private LinuxEngine(EpollLoop[] loops) => _loops = loops;

    /// <summary>True where the engine can run (Linux on x64 or arm64).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>The process's engine, started on first use; null when it could not start (<see cref="StartError"/> says why).</summary>
    public static LinuxEngine? Shared => SharedEngine.Value;

    /// <summary>Why <see cref="Shared"/> is null.</summary>
    public static string? StartError => SharedEngine.IsValueCreated ? _startError : null;

    public int LoopCount => _loops.Length;

    /// <summary>The loop for the next connection.</summary>
    public EpollLoop NextLoop() => _loops[(int)(Interlocked.Increment(ref _next) % (uint)_loops.Length)];

    private static LinuxEngine? Start()
    {
        if (!IsSupported)
        {
            _startError = "the Linux engine needs Linux on x64 or arm64";
            return null;
        }

        var loops = new EpollLoop[Math.Clamp(Environment.ProcessorCount, 1, 16)];
        for (var i = 0; i < loops.Length; i++)
        {
            if (EpollLoop.TryStart($"tpt-epoll-{i}", out var error) is not { } loop)
            {
                _startError = error;
                for (var j = 0; j < i; j++)
                {
                    loops[j].Dispose();
                }

                return null;
            }

            loops[i] = loop;
        }

        return new LinuxEngine(loops);
    }
}
