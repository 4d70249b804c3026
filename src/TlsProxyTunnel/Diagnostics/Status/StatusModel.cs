namespace TlsProxyTunnel.Diagnostics.Status;

/// <summary>
/// The status page as data: a list of sections, each with labelled fields and/or a table. The HTML and JSON
/// writers know only this shape, so a feature adds a section (see <see cref="StatusCollector.Sections"/>)
/// without touching either writer, and everything it shows is escaped by the one writer that renders it.
/// </summary>
internal sealed record StatusPageModel(DateTimeOffset GeneratedAt, TimeSpan Refresh, IReadOnlyList<StatusSection> Sections);

/// <param name="Key">The section's JSON property and HTML id: lower case, digits and '_'.</param>
/// <param name="Title">The heading on the page.</param>
internal sealed record StatusSection(string Key, string Title)
{
    /// <summary>Labelled single values, shown before the table.</summary>
    public IReadOnlyList<StatusField> Fields { get; init; } = [];

    /// <summary>The table's columns; none means the section has no table.</summary>
    public IReadOnlyList<StatusColumn> Columns { get; init; } = [];

    /// <summary>One value per column in each row.</summary>
    public IReadOnlyList<IReadOnlyList<StatusValue>> Rows { get; init; } = [];

    /// <summary>Shown instead of an empty table.</summary>
    public string EmptyText { get; init; } = "none";

    /// <summary>A line under the heading that says how to read the section.</summary>
    public string? Note { get; init; }
}

/// <param name="Key">The JSON property of the value in each row.</param>
/// <param name="Header">The column heading on the page.</param>
internal sealed record StatusColumn(string Key, string Header);

internal sealed record StatusField(string Key, string Label, StatusValue Value);

internal enum StatusValueKind
{
    /// <summary>A string; JSON string.</summary>
    Text,

    /// <summary>Several strings; JSON array.</summary>
    List,

    /// <summary>A whole number; JSON number.</summary>
    Count,

    /// <summary>Events per second, or unknown (not enough history yet); JSON number or null.</summary>
    Rate,

    /// <summary>A duration in seconds, or none; JSON number or null.</summary>
    Seconds,

    /// <summary>A point in time (UTC), or none; JSON ISO 8601 string or null.</summary>
    Time,
}

/// <summary>How a value should catch the eye: only the HTML uses it.</summary>
internal enum StatusTone
{
    Plain,
    Good,
    Warning,
    Bad,
}

internal readonly record struct StatusValue
{
    public StatusValueKind Kind { get; private init; }

    public string? Text { get; private init; }

    public IReadOnlyList<string>? Items { get; private init; }

    public double? Number { get; private init; }

    public DateTimeOffset? Time { get; private init; }

    public StatusTone Tone { get; init; }

    public static StatusValue Of(string text, StatusTone tone = StatusTone.Plain) => new() { Kind = StatusValueKind.Text, Text = text, Tone = tone };

    public static StatusValue Of(long count, StatusTone tone = StatusTone.Plain) => new() { Kind = StatusValueKind.Count, Number = count, Tone = tone };

    public static StatusValue List(IEnumerable<string> items) => new() { Kind = StatusValueKind.List, Items = [.. items] };

    public static StatusValue Rate(double? perSecond) => new() { Kind = StatusValueKind.Rate, Number = perSecond };

    public static StatusValue Seconds(TimeSpan? duration) => new() { Kind = StatusValueKind.Seconds, Number = duration?.TotalSeconds };

    public static StatusValue At(DateTimeOffset? time) => new() { Kind = StatusValueKind.Time, Time = time };
}
