using System.Text.Json;

namespace TlsProxyTunnel.Diagnostics.Status;

/// <summary>
/// The status page as JSON (<c>?format=json</c>), written with <see cref="Utf8JsonWriter"/> (no reflection,
/// so Native AOT needs nothing generated). Shape: <c>generated_at</c>, <c>refresh_seconds</c>, then one
/// object per section under its key, holding the section's fields and, when it has a table, <c>rows</c>: an
/// array of objects keyed by column. Counts are numbers; rates, durations and times are null when unknown.
/// </summary>
internal static class StatusJsonWriter
{
    public const string ContentType = "application/json; charset=utf-8";

    public static byte[] Write(StatusPageModel model)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("generated_at", model.GeneratedAt.UtcDateTime);
            json.WriteNumber("refresh_seconds", (int)model.Refresh.TotalSeconds);
            foreach (var section in model.Sections)
            {
                json.WriteStartObject(section.Key);
                foreach (var field in section.Fields)
                {
                    WriteValue(json, field.Key, field.Value);
                }

                if (section.Columns.Count > 0)
                {
                    json.WriteStartArray("rows");
                    foreach (var row in section.Rows)
                    {
                        json.WriteStartObject();
                        for (var i = 0; i < section.Columns.Count; i++)
                        {
                            WriteValue(json, section.Columns[i].Key, row[i]);
                        }

                        json.WriteEndObject();
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter json, string key, StatusValue value)
    {
        switch (value.Kind)
        {
            case StatusValueKind.List:
                json.WriteStartArray(key);
                foreach (var item in value.Items ?? [])
                {
                    json.WriteStringValue(item);
                }

                json.WriteEndArray();
                break;
            case StatusValueKind.Count:
                json.WriteNumber(key, (long)value.Number!.Value);
                break;
            case StatusValueKind.Rate or StatusValueKind.Seconds:
                if (value.Number is { } number)
                {
                    json.WriteNumber(key, Math.Round(number, 3));
                }
                else
                {
                    json.WriteNull(key);
                }

                break;
            case StatusValueKind.Time:
                if (value.Time is { } time)
                {
                    json.WriteString(key, time.UtcDateTime);
                }
                else
                {
                    json.WriteNull(key);
                }

                break;
            default:
                json.WriteString(key, value.Text);
                break;
        }
    }
}
