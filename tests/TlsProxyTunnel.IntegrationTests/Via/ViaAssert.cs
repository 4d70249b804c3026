using System.Diagnostics;
using System.Net;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Via;

/// <summary>Client-side checks shared by the router-level via and DNS tests.</summary>
internal static class ViaAssert
{
    /// <summary>
    /// Sends <paramref name="hello"/>, expects <paramref name="expected"/>'s banner, half-closes, and checks
    /// both the echo and the backend's own record are byte-exact copies.
    /// </summary>
    public static async Task RoundTripAsync(IPEndPoint router, byte[] hello, TestBackend expected, string? context = null)
    {
        using var client = await RawClient.ConnectAsync(router);
        await client.SendAsync(hello);
        string tag;
        try
        {
            tag = await client.ReadBannerAsync();
        }
        catch (IOException e)
        {
            throw new IOException($"{e.Message}\n{context}", e);
        }

        Assert.Equal(expected.Tag, tag);

        // Read the whole echo before half-closing: tinyproxy does not pass a half-close on, it tears the
        // tunnel down at the client's FIN, and an echo still in flight would be lost.
        var echoed = await client.ReadExactlyAsync(hello.Length);
        Assert.Equal(TestBackend.Sha256(hello), TestBackend.Sha256(echoed));
        client.ShutdownSend();
        var (rest, clean) = await client.ReadToEndAsync();
        Assert.True(clean, "the relay should end with a FIN, not a reset");
        Assert.Empty(rest);

        // Skip connections that carried nothing: banner-only probes a test made earlier (DNS polling).
        var seen = expected.NextFinished();
        while (seen.Received.Length == 0)
        {
            seen = expected.NextFinished();
        }

        Assert.True(seen.SawEof);
        Assert.Equal(TestBackend.Sha256(hello), TestBackend.Sha256(seen.Received));
    }

    /// <summary>Sends <paramref name="hello"/> and expects the router to close without sending a byte; returns how long that took.</summary>
    public static async Task<TimeSpan> ClosedWithoutBytesAsync(IPEndPoint router, byte[] hello, TimeSpan? within = null)
    {
        using var client = await RawClient.ConnectAsync(router);
        var clock = Stopwatch.StartNew();
        await client.SendAsync(hello);
        var (data, _) = await client.ReadToEndAsync(within ?? TimeSpan.FromSeconds(10));
        Assert.Empty(data);
        return clock.Elapsed;
    }
}
