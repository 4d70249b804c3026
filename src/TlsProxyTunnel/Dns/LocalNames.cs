using System.Net;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>
/// Names answered without DNS: the hosts file (re-read when it changes) and <c>localhost</c>/<c>*.localhost</c>,
/// which RFC 6761 makes loopback whatever DNS says. DnsClient knows neither. A hosts entry with no address of the
/// wanted family falls through to DNS, as glibc does.
/// </summary>
/// <remarks>
/// Asked on every connection to a named upstream, so a hit returns a shared answer and takes no lock: the file
/// is checked for changes at most every two seconds, by one caller while the others use what is loaded.
/// </remarks>
internal sealed class LocalNames(string hostsPath, TimeProvider time)
{
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(2);
    private static readonly ResolveResult?[] Loopback = HostsFile.FamilyAnswers([IPAddress.Loopback, IPAddress.IPv6Loopback]);

    private readonly Lock _recheck = new();
    private volatile Loaded? _loaded;

    public bool TryResolve(string name, AddressFamilyFilter family, out ResolveResult result)
    {
        if (Hosts().TryResolve(name, family, out result))
        {
            return true;
        }

        if (name == "localhost" || name.EndsWith(".localhost", StringComparison.Ordinal))
        {
            result = Loopback[(int)family]!;
            return true;
        }

        return false;
    }

    private HostsFile Hosts()
    {
        var loaded = _loaded;
        var now = time.GetUtcNow();
        if (loaded is not null && now - loaded.CheckedAt < RecheckInterval)
        {
            return loaded.Hosts;
        }

        // Someone else is checking: go on with what is loaded rather than wait on the file system.
        if (loaded is not null && !_recheck.TryEnter())
        {
            return loaded.Hosts;
        }

        if (loaded is null)
        {
            _recheck.Enter();
        }

        try
        {
            loaded = _loaded;
            if (loaded is not null && now - loaded.CheckedAt < RecheckInterval)
            {
                return loaded.Hosts;
            }

            var writeTime = File.Exists(hostsPath) ? File.GetLastWriteTimeUtc(hostsPath) : default;
            var hosts = loaded is not null && loaded.WriteTime == writeTime ? loaded.Hosts : HostsFile.Load(hostsPath);
            _loaded = new Loaded(hosts, writeTime, now);
            return hosts;
        }
        finally
        {
            _recheck.Exit();
        }
    }

    private sealed record Loaded(HostsFile Hosts, DateTime WriteTime, DateTimeOffset CheckedAt);
}
