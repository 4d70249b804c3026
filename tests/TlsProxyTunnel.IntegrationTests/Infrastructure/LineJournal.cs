namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// Lines a peer or logger produced, kept in order, and a wait for the first that matches: each new line is the
/// signal to look again, so nothing polls.
/// </summary>
public sealed class LineJournal
{
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Every line so far, joined by '\n'.</summary>
    public string Text
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public IReadOnlyList<string> Snapshot()
    {
        lock (_gate)
        {
            return [.. _lines];
        }
    }

    public void Add(string line)
    {
        TaskCompletionSource added;
        lock (_gate)
        {
            _lines.Add(line);
            added = _added;
            _added = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        added.TrySetResult();
    }

    /// <summary>The first line matching <paramref name="match"/>, waiting for new lines up to <paramref name="timeout"/> (20 s).</summary>
    /// <param name="whenMissing">Starts the <see cref="TimeoutException"/>'s message; the lines so far follow it.</param>
    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan? timeout, string whenMissing)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            Task added;
            lock (_gate)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }

                added = _added.Task;
            }

            try
            {
                await added.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{whenMissing}:\n{Text}");
            }
        }
    }
}
