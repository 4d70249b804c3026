using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// <c>log-format: json</c>: one object per line with tls-proxy-tunnel's fields, so pipelines built for it keep
/// working: <c>{"ts":"2026-03-22T10:00:00.123Z","level":"INFO","target":"...","msg":"..."}</c>. <c>ts</c> is RFC 3339
/// in UTC with the fraction trimmed of trailing zeros (as the Rust <c>time</c> crate writes it), <c>level</c> is
/// env_logger's upper-case name, <c>target</c> is tpt's category. Runs inside the console logger, which formats on
/// the caller's thread and queues the text, so writing stays non-blocking.
/// </summary>
internal sealed class TlsProxyTunnelJsonFormatter(TimeProvider time) : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "tls-proxy-tunnel-json";

    // Escapes quotes, backslashes and control characters (so a line is always one line) but leaves '<', '&' and
    // non-ASCII readable: this is a log, not HTML.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        // The Rust log has no exception field; the exception goes into msg so that pipelines reading msg still see it.
        if (logEntry.Exception is { } exception)
        {
            message = string.IsNullOrEmpty(message) ? exception.ToString() : message + Environment.NewLine + exception;
        }

        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(512);
        buffer.ResetWrittenCount();
        var json = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        json.Reset(buffer);

        Span<char> ts = stackalloc char[40];
        time.GetUtcNow().UtcDateTime.TryFormat(ts, out var tsLength, "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

        json.WriteStartObject();
        json.WriteString("ts", ts[..tsLength]);
        json.WriteString("level", LevelName(logEntry.LogLevel));
        json.WriteString("target", logEntry.Category);
        json.WriteString("msg", message);
        json.WriteEndObject();
        json.Flush();

        var chars = ArrayPool<char>.Shared.Rent(Encoding.UTF8.GetMaxCharCount(buffer.WrittenCount));
        try
        {
            var length = Encoding.UTF8.GetChars(buffer.WrittenSpan, chars);
            textWriter.Write(chars.AsSpan(0, length));
            textWriter.Write(Environment.NewLine);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }

        // A long line once should not pin a large buffer on every thread that logged it.
        if (buffer.Capacity > 64 * 1024)
        {
            t_buffer = null;
            t_writer = null;
        }
    }

    /// <summary>The Rust <c>log</c> crate's level names; it has no "critical", so that is an error.</summary>
    internal static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "TRACE",
        LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO",
        LogLevel.Warning => "WARN",
        _ => "ERROR",
    };
}
