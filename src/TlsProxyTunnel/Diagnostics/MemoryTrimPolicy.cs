namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// Decides, from periodic samples of the live connection count, when load has fallen for good so that memory
/// taken at the peak can be handed back to the OS. A drop must be large (at least half of the high-water mark
/// and at least <see cref="MinimumDrop"/> connections) and seen on two samples in a row, so a brief dip in a
/// busy server does not trigger a blocking collection.
/// </summary>
internal sealed class MemoryTrimPolicy
{
    internal const int MinimumDrop = 64;
    private const int QuietSamplesNeeded = 2;

    private int _high;
    private int _quietSamples;

    /// <summary>Takes one sample; true means "trim now" (the high-water mark then restarts from this sample).</summary>
    public bool Observe(int live)
    {
        if (live >= _high)
        {
            _high = live;
            _quietSamples = 0;
            return false;
        }

        var fellFar = _high - live >= MinimumDrop && live * 2 <= _high;
        _quietSamples = fellFar ? _quietSamples + 1 : 0;
        if (_quietSamples < QuietSamplesNeeded)
        {
            return false;
        }

        _high = live;
        _quietSamples = 0;
        return true;
    }
}
