namespace TlsProxyTunnel.Engine.Linux;

/// <summary>The Linux engine: a set of epoll loops shared by every server that runs on it.</summary>
internal sealed partial class LinuxEngine
{
    /// <summary>True where the engine can start (Linux on x64 or arm64).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture is System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.Arm64);
}
