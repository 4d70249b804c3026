using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace TlsProxyTunnel.Tests.Infrastructure;

/// <summary>Keeps every formatted log line in memory, for tests that check what was logged and what was not.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<(LogLevel Level, string Message)> _lines = new();
    private readonly ConcurrentDictionary<TaskCompletionSource<string>, Func<string, bool>> _waiters = new();

    public IReadOnlyList<(LogLevel Level, string Message)> Lines => [.. _lines];

    public string Text => string.Join("\n", _lines.Select(l => $"{l.Level}: {l.Message}"));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);

        // The exception is part of what a console or JSON formatter would print, so it is part of the line here.
        var line = formatter(state, exception) + (exception is null ? "" : "\n" + exception);
        _lines.Enqueue((logLevel, line));
        foreach (var (waiter, match) in _waiters)
        {
            if (match(line) && _waiters.TryRemove(waiter, out _))
            {
                waiter.TrySetResult(line);
            }
        }
    }

    /// <summary>The first line (already logged or still to come) that <paramref name="match"/> accepts, within 30 s.</summary>
    public async Task<string> WaitForAsync(Func<string, bool> match)
    {
        var waiter = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters[waiter] = match;
        foreach (var (_, message) in _lines)
        {
            if (match(message) && _waiters.TryRemove(waiter, out _))
            {
                return message;
            }
        }

        try
        {
            return await waiter.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            _waiters.TryRemove(waiter, out _);
            throw new TimeoutException("No matching log line; lines so far:\n" + Text);
        }
    }
}
