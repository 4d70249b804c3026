using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Hosting;

/// <summary>
/// SIGTERM, SIGINT and SIGQUIT start a graceful shutdown; a second one ends the drain at once.
/// The default console lifetime only knows the first, so we handle them ourselves.
/// </summary>
internal sealed class ShutdownSignals(IHostApplicationLifetime lifetime, ILogger<ShutdownSignals> logger) : IHostedService, IDisposable
{
    private readonly TaskCompletionSource _forced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _signals;

    /// <summary>Completes when a second signal asks to stop draining.</summary>
    public Task WhenForced() => _forced.Task;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        // The process must not die on the default disposition; the host decides when to exit.
        context.Cancel = true;
        if (Interlocked.Increment(ref _signals) == 1)
        {
            lifetime.StopApplication();
        }
        else
        {
            Log.SecondSignal(logger, context.Signal.ToString());
            _forced.TrySetResult();
        }
    }
}
