using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace TlsProxyTunnel.Tests.Infrastructure;

/// <summary>Keeps every formatted log line in memory, for tests that check what was logged and what was not.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<(LogLevel Level, string Message)> _lines = new();

    public IReadOnlyList<(LogLevel Level, string Message)> Lines => [.. _lines];

    public string Text => string.Join("\n", _lines.Select(l => $"{l.Level}: {l.Message}"));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);

        // The exception is part of what a console or JSON formatter would print, so it is part of the line here.
        _lines.Enqueue((logLevel, formatter(state, exception) + (exception is null ? "" : "\n" + exception)));
    }
}
