using System.Globalization;
using System.Text;
using TlsProxyTunnel.Cli;

namespace TlsProxyTunnel.Inspection;

/// <summary>
/// proxcat.py's output from capture files, byte for byte, except the date under <c>-t</c> and <c>-l</c>: proxcat
/// prints minutes where the month belongs (<c>%Y-%M-%d</c>); this prints <c>YYYY-MM-DD_HH:MM:SS</c>. A line that is
/// not a capture line is reported (file and line) and skipped, where proxcat stopped with a traceback.
/// </summary>
internal sealed class CaptureViewer(CapcatOptions options, Stream output, TextWriter errors, TimeZoneInfo? zone = null)
{
    private static readonly byte[] Red = "\x1b[31m"u8.ToArray();
    private static readonly byte[] Green = "\x1b[32m"u8.ToArray();
    private static readonly byte[] Reset = "\x1b[m"u8.ToArray();

    private readonly TimeZoneInfo _zone = zone ?? TimeZoneInfo.Local;

    // -l: addresses already listed, across all files (as proxcat's "seen" set).
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    /// <summary>Lines that could not be read, in all files so far.</summary>
    public int Errors { get; private set; }

    /// <summary>Shows every file in order; a file that cannot be opened is reported and skipped.</summary>
    public void Run()
    {
        foreach (var file in options.Files)
        {
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                Show(stream, file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.WriteLine($"tpt capcat: {file}: {e.Message}");
                Errors++;
            }
        }

        output.Flush();
    }

    /// <summary>One file: offsets under <c>-x</c> start afresh per file, per (address, direction).</summary>
    public void Show(Stream stream, string name)
    {
        var offsets = new Dictionary<(string, string), long>();
        var reader = new StreamReader(stream, Encoding.Latin1);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (!TryParse(line, out var time, out var address, out var direction, out var hex, out var problem))
            {
                Report(name, number, problem);
                continue;
            }

            if (options.Address is not null && address != options.Address)
            {
                continue;
            }

            if (options.List)
            {
                if (_seen.Add(address))
                {
                    Write($"{Format(time)} {address}\n");
                }

                continue;
            }

            byte[] data;
            try
            {
                data = Convert.FromHexString(hex);
            }
            catch (FormatException)
            {
                Report(name, number, "the data is not hex (an even number of 0-9a-f)");
                continue;
            }

            if (!options.Shows(direction))
            {
                continue;
            }

            if (options.Timestamps)
            {
                Write($"\n{Format(time)} {address} {direction}: ");
                if (options.Hex)
                {
                    Write("\n");
                }
            }

            if (options.Color)
            {
                output.Write(direction == "o" ? Green : Red);
            }

            if (options.Hex)
            {
                var offset = offsets.GetValueOrDefault((address, direction));
                offsets[(address, direction)] = offset + data.Length;
                Hexdump(offset, data);
            }
            else
            {
                output.Write(data);
            }

            if (options.Color)
            {
                output.Write(Reset);
            }
        }
    }

    private void Report(string name, int number, string? problem)
    {
        Errors++;
        output.Flush();
        errors.WriteLine($"tpt capcat: {name}:{number}: {problem}; line skipped");
    }

    /// <summary>proxcat's parse: surrounding whitespace stripped, exactly four fields split on single spaces, a number first.</summary>
    private static bool TryParse(string line, out double time, out string address, out string direction, out string hex, out string? problem)
    {
        time = 0;
        address = direction = hex = "";
        var fields = line.Trim(' ', '\t', '\n', '\r', '\v', '\f').Split(' ');
        if (fields.Length != 4)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"expected 4 fields separated by single spaces (time, client, i or o, hex data), got {fields.Length}");
            return false;
        }

        if (!double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out time) || !double.IsFinite(time))
        {
            problem = "the first field is not a time (seconds since the epoch)";
            return false;
        }

        (address, direction, hex) = (fields[1], fields[2], fields[3]);
        problem = null;
        return true;
    }

    private string Format(double seconds)
    {
        var at = DateTimeOffset.FromUnixTimeSeconds((long)Math.Floor(seconds));
        return TimeZoneInfo.ConvertTime(at, _zone).ToString("yyyy-MM-dd_HH:mm:ss", CultureInfo.InvariantCulture);
    }

    private void Write(string text) => output.Write(Encoding.Latin1.GetBytes(text));

    /// <summary>
    /// Rows of 16 at offsets aligned to 16: <c>OFFSET: 8 hex : 8 hex | ASCII</c>; positions outside the chunk blank,
    /// so a chunk starting at 5 begins with five blanks.
    /// </summary>
    private void Hexdump(long offset, byte[] data)
    {
        var skip = (int)(offset & 15);
        var row = new StringBuilder(80);
        for (long start = -skip, at = offset - skip; start < data.Length; start += 16, at += 16)
        {
            row.Clear();
            row.Append(at.ToString("x8", CultureInfo.InvariantCulture)).Append(": ");
            for (var m = 0; m < 16; m++)
            {
                if (m == 8)
                {
                    row.Append(" : ");
                }
                else if (m > 0)
                {
                    row.Append(' ');
                }

                var n = start + m;
                row.Append(n >= 0 && n < data.Length ? data[n].ToString("x2", CultureInfo.InvariantCulture) : "  ");
            }

            row.Append(" | ");
            for (var m = 0; m < 16; m++)
            {
                var n = start + m;
                row.Append(n < 0 || n >= data.Length ? ' ' : data[n] is >= 0x20 and <= 0x7e ? (char)data[n] : '.');
            }

            row.Append('\n');
            Write(row.ToString());
        }
    }
}
