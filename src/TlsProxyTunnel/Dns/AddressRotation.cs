using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;

namespace TlsProxyTunnel.Dns;

/// <summary>
/// Round robin over a name's addresses: each connection starts at the next address and fails over
/// to the following ones, so load spreads across records and a dead first address is not hit by
/// every connection first.
/// </summary>
/// <remarks>
/// Keys are configured host names (never client-supplied), so the table stays as small as the
/// configuration; a defensive cap still clears it should a caller ever pass unbounded keys.
/// </remarks>
internal sealed class AddressRotation
{
    private const int MaxNames = 4096;

    private readonly ConcurrentDictionary<string, StrongBox<int>> _next = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The index to start at for the next connection to <paramref name="name"/>.</summary>
    public int NextStart(string name, int count)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (count <= 1)
        {
            return 0;
        }

        // Count takes every bucket lock, so it is read only for a name not seen yet, not on every connection.
        if (!_next.TryGetValue(name, out var counter))
        {
            if (_next.Count >= MaxNames)
            {
                _next.Clear();
            }

            counter = _next.GetOrAdd(name, static _ => new StrongBox<int>(0));
        }

        // Unsigned so the counter wrapping past int.MaxValue keeps rotating instead of going negative.
        var ticket = (uint)Interlocked.Increment(ref counter.Value) - 1;
        return (int)(ticket % (uint)count);
    }

    /// <summary>The addresses in the order to try them for the next connection to <paramref name="name"/>.</summary>
    public IPAddress[] Order(string name, IReadOnlyList<IPAddress> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        return InOrder(addresses, NextStart(name, addresses.Count));
    }

    /// <summary><paramref name="addresses"/> rotated to begin at <paramref name="start"/>, wrapping around.</summary>
    public static IPAddress[] InOrder(IReadOnlyList<IPAddress> addresses, int start)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var result = new IPAddress[addresses.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = addresses[(start + i) % result.Length];
        }

        return result;
    }
}
