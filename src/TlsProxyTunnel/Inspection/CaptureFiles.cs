using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Inspection;

/// <summary>
/// The open capture files, by path, outliving reloads: a reload must not truncate a capture again or lose its queue.
/// Servers naming one path share one writer (one file, lines never interleaved mid-line).
/// </summary>
internal sealed class CaptureFiles(ILogger logger)
{
    private readonly Dictionary<string, CaptureWriter> _open = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public CaptureWriter For(CaptureSettings settings)
    {
        lock (_gate)
        {
            if (!_open.TryGetValue(settings.Path, out var writer))
            {
                writer = _open[settings.Path] = new CaptureWriter(settings, logger);
            }

            return writer;
        }
    }

    /// <summary>Closes the files no server of the new configuration names (their queued lines are written first).</summary>
    public void Retain(IEnumerable<CaptureSettings> kept)
    {
        var paths = kept.Select(c => c.Path).ToHashSet(StringComparer.Ordinal);
        List<CaptureWriter> closing;
        lock (_gate)
        {
            closing = [.. _open.Where(e => !paths.Contains(e.Key)).Select(e => e.Value)];
            foreach (var writer in closing)
            {
                _open.Remove(writer.Settings.Path);
            }
        }

        foreach (var writer in closing)
        {
            _ = writer.CloseAsync();
        }
    }

    /// <summary>Writes what is queued and closes every file (shutdown).</summary>
    public async Task CloseAllAsync()
    {
        List<CaptureWriter> all;
        lock (_gate)
        {
            all = [.. _open.Values];
            _open.Clear();
        }

        foreach (var writer in all)
        {
            await writer.CloseAsync();
        }
    }
}
