using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>Where the system's resolver configuration lives; tests point these at temporary files.</summary>
internal sealed record SystemResolverFiles(string HostsPath, string ResolvConfPath)
{
    public static readonly SystemResolverFiles Default = new("/etc/hosts", "/etc/resolv.conf");
}

/// <summary>
/// The parts of resolv.conf DnsClient does not apply: <c>search</c>/<c>domain</c> and <c>ndots</c>
/// (Kubernetes pods depend on both), plus the name servers so a test file can supply them.
/// </summary>
internal sealed class ResolvConf
{
    public static readonly ResolvConf Empty = new([], [], 1);

    private ResolvConf(IReadOnlyList<IPEndPoint> nameservers, IReadOnlyList<string> search, int ndots)
    {
        Nameservers = nameservers;
        Search = search;
        Ndots = ndots;
    }

    public IReadOnlyList<IPEndPoint> Nameservers { get; }

    public IReadOnlyList<string> Search { get; }

    /// <summary>glibc's default is 1; Kubernetes writes 5.</summary>
    public int Ndots { get; }

    public static ResolvConf Load(string path) => SystemFile.ReadLines(path) is { } lines ? Parse(lines) : Empty;

    public static ResolvConf Parse(IEnumerable<string> lines)
    {
        var nameservers = new List<IPEndPoint>();
        IReadOnlyList<string> search = [];
        var ndots = 1;
        foreach (var raw in lines)
        {
            var tokens = StripComment(raw).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length < 2)
            {
                continue;
            }

            switch (tokens[0])
            {
                case "nameserver" when IPAddress.TryParse(tokens[1], out var ip):
                    nameservers.Add(new IPEndPoint(ip, 53));
                    break;

                // As in glibc, the last of "search" and "domain" wins.
                case "search":
                    search = [.. tokens.Skip(1).Select(NormaliseDomain).Where(d => d.Length > 0)];
                    break;
                case "domain":
                    search = [.. new[] { NormaliseDomain(tokens[1]) }.Where(d => d.Length > 0)];
                    break;
                case "options":
                    foreach (var option in tokens.Skip(1))
                    {
                        if (option.StartsWith("ndots:", StringComparison.Ordinal)
                            && int.TryParse(option.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                        {
                            ndots = Math.Min(n, 15); // glibc's cap
                        }
                    }

                    break;
                default:
                    break;
            }
        }

        return new ResolvConf(nameservers, search, ndots);
    }

    /// <summary>
    /// The names to query, in order, as glibc does: a name with at least <see cref="Ndots"/> dots is
    /// tried as written first, a shorter one after the search list; a trailing dot means "as written only".
    /// </summary>
    public IReadOnlyList<string> Candidates(string name, bool absolute)
    {
        if (absolute || Search.Count == 0)
        {
            return [name];
        }

        var dots = name.AsSpan().Count('.');
        var searched = Search.Select(domain => name + "." + domain);
        return dots >= Ndots ? [name, .. searched] : [.. searched, name];
    }

    internal static string StripComment(string line)
    {
        var hash = line.AsSpan().IndexOfAny('#', ';');
        return hash >= 0 ? line[..hash] : line;
    }

    private static string NormaliseDomain(string domain) => domain.TrimEnd('.').ToLowerInvariant();
}

/// <summary>
/// A parsed hosts file: name (lower case) to its addresses in file order, and to the answer for each address family,
/// made once when the file is read so a hit costs a lookup, not a filter and a new result per connection.
/// </summary>
internal sealed class HostsFile
{
    public static readonly HostsFile Empty = new(FrozenDictionary<string, IPAddress[]>.Empty);

    private readonly FrozenDictionary<string, IPAddress[]> _entries;

    // Indexed by AddressFamilyFilter; null where the name has no address of that family (DNS is asked then, as glibc does).
    private readonly FrozenDictionary<string, ResolveResult?[]> _answers;

    private HostsFile(FrozenDictionary<string, IPAddress[]> entries)
    {
        _entries = entries;
        _answers = entries.ToFrozenDictionary(e => e.Key, e => FamilyAnswers(e.Value), StringComparer.Ordinal);
    }

    /// <summary>The answers for <paramref name="addresses"/> under each <see cref="AddressFamilyFilter"/>, by its value.</summary>
    public static ResolveResult?[] FamilyAnswers(IReadOnlyList<IPAddress> addresses) =>
        [.. Enum.GetValues<AddressFamilyFilter>().Select(f => AddressFamilies.Keep(addresses, f) is { Count: > 0 } kept ? ResolveResult.Success(kept) : null)];

    public static HostsFile Load(string path) => SystemFile.ReadLines(path) is { } lines ? Parse(lines) : Empty;

    public static HostsFile Parse(IEnumerable<string> lines)
    {
        var entries = new Dictionary<string, List<IPAddress>>(StringComparer.Ordinal);
        foreach (var raw in lines)
        {
            var hash = raw.IndexOf('#', StringComparison.Ordinal);
            var tokens = (hash >= 0 ? raw[..hash] : raw).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length < 2 || !IPAddress.TryParse(tokens[0], out var ip))
            {
                continue;
            }

            foreach (var name in tokens.Skip(1))
            {
                var key = name.TrimEnd('.').ToLowerInvariant();
                if (!entries.TryGetValue(key, out var list))
                {
                    entries[key] = list = [];
                }

                if (!list.Contains(ip))
                {
                    list.Add(ip);
                }
            }
        }

        return new HostsFile(entries.ToFrozenDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal));
    }

    public bool TryGet(string name, out IPAddress[] addresses) => _entries.TryGetValue(name, out addresses!);

    /// <summary>The shared answer for <paramref name="name"/> in <paramref name="family"/>; false when the file has none.</summary>
    public bool TryResolve(string name, AddressFamilyFilter family, out ResolveResult result)
    {
        if (_answers.TryGetValue(name, out var answers) && answers[(int)family] is { } answer)
        {
            result = answer;
            return true;
        }

        result = null!;
        return false;
    }
}

/// <summary>Reads a system file that may be missing or unreadable (a container without /etc/hosts): null then.</summary>
internal static class SystemFile
{
    public static string[]? ReadLines(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllLines(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
