using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Runtime;

/// <summary>One configuration generation, compiled for the data path. Swapped whole on reload; never mutated.</summary>
internal sealed class RuntimeSnapshot(ProxyConfig config, long generation, IReadOnlyDictionary<string, RuntimeServer> servers)
{
    public ProxyConfig Config { get; } = config;

    public long Generation { get; } = generation;

    public IReadOnlyDictionary<string, RuntimeServer> Servers { get; } = servers;
}
