using System.Text;
using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Inspection;

namespace TlsProxyTunnel.Tests.Inspection;

/// <summary>
/// seed-tools §4.6 PROX-2: <c>tpt capcat</c> against golden text written by hand from proxcat's documented output
/// (§4.1: raw bytes, <c>-t</c> headers, <c>-x</c> rows with per-stream offsets and blank padding, <c>-c</c>, <c>-l</c>, <c>-a</c>).
/// The fixture holds two sessions: a 20-byte chunk at offset 0 and, in the other, a chunk at offset 5.
/// </summary>
public sealed class CaptureViewerTests
{
    private const string Fixture =
        "1700000000.000000 127.0.0.1:5000 i 000102030405060708090a0b0c0d0e0f4142430a\n" + // 20 bytes, offset 0
        "1700000001.250000 [::1]:6000 i 4142434445\n" + // "ABCDE"
        "1700000002.500000 [::1]:6000 i 48656c6c6f2c20776f726c6421\n" + // "Hello, world!" at offset 5
        "1700000003.000000 127.0.0.1:5000 o 4f4b0d0a\n"; // "OK\r\n"

    private const string Esc = "\u001b";

    [Fact]
    public void Without_flags_the_raw_bytes_of_both_directions_are_written_in_file_order()
    {
        var expected = "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000fABC\nABCDEHello, world!OK\r\n";
        Assert.Equal(expected, View([]));
    }

    [Fact]
    public void Hexdump_rows_have_offsets_per_address_and_direction_and_blanks_before_a_chunk_that_starts_mid_row()
    {
        var expected =
            "00000000: 00 01 02 03 04 05 06 07 : 08 09 0a 0b 0c 0d 0e 0f | ................\n" +
            "00000010: 41 42 43 0a             :                         | ABC.            \n" +
            "00000000: 41 42 43 44 45          :                         | ABCDE           \n" +
            "00000000:                48 65 6c : 6c 6f 2c 20 77 6f 72 6c |      Hello, worl\n" +
            "00000010: 64 21                   :                         | d!              \n" +
            "00000000: 4f 4b 0d 0a             :                         | OK..            \n";
        Assert.Equal(expected, View(["-x"]));
    }

    [Fact]
    public void Timestamps_start_a_line_with_time_address_and_direction()
    {
        var expected =
            "\n2023-11-14_22:13:20 127.0.0.1:5000 i: \0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000fABC\n" +
            "\n2023-11-14_22:13:21 [::1]:6000 i: ABCDE" +
            "\n2023-11-14_22:13:22 [::1]:6000 i: Hello, world!" +
            "\n2023-11-14_22:13:23 127.0.0.1:5000 o: OK\r\n";
        Assert.Equal(expected, View(["-t"]));
    }

    [Fact]
    public void Timestamps_with_hexdump_put_the_rows_on_the_next_line()
    {
        var expected =
            "\n2023-11-14_22:13:22 [::1]:6000 i: \n" +
            "00000000:                48 65 6c : 6c 6f 2c 20 77 6f 72 6c |      Hello, worl\n" +
            "00000010: 64 21                   :                         | d!              \n";
        Assert.EndsWith(expected, View(["-xt", "-i"]), StringComparison.Ordinal);
    }

    [Fact]
    public void List_prints_each_address_once_with_the_time_it_first_appears()
    {
        Assert.Equal("2023-11-14_22:13:20 127.0.0.1:5000\n2023-11-14_22:13:21 [::1]:6000\n", View(["-l"]));
    }

    [Fact]
    public void List_spans_all_files()
    {
        Assert.Equal("2023-11-14_22:13:20 127.0.0.1:5000\n2023-11-14_22:13:21 [::1]:6000\n", View(["-l"], files: 2));
    }

    [Theory]
    [InlineData("[::1]:6000", "ABCDEHello, world!")]
    [InlineData("127.0.0.1:5000", "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000fABC\nOK\r\n")]
    [InlineData("127.0.0.1:500", "")] // exact match, not a prefix
    public void An_address_selects_one_session_by_exact_match(string address, string expected)
    {
        Assert.Equal(expected, View(["-a", address]));
    }

    [Fact]
    public void Directions_select_client_or_server_data_and_both_flags_mean_both()
    {
        Assert.Equal("OK\r\n", View(["-o"]));
        Assert.Equal("ABCDEHello, world!", View(["-i", "-a[::1]:6000"]));
        Assert.Equal(View([]), View(["-io"]));
    }

    [Fact]
    public void Colors_wrap_each_chunk_red_for_the_client_and_green_for_the_server()
    {
        Assert.Equal($"{Esc}[31mABCDE{Esc}[m{Esc}[31mHello, world!{Esc}[m", View(["-c", "-a", "[::1]:6000"]));
        Assert.Equal($"{Esc}[32mOK\r\n{Esc}[m", View(["-co"]));
    }

    [Fact]
    public void Offsets_start_afresh_in_each_file()
    {
        var once = View(["-x", "-a", "[::1]:6000"]);
        Assert.Equal(once + once, View(["-x", "-a", "[::1]:6000"], files: 2));
    }

    [Fact]
    public void A_line_that_is_not_a_capture_line_is_reported_with_file_and_line_and_the_rest_is_still_shown()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "1700000000.000000 127.0.0.1:5000 i 4142\nnot a capture line at all\n1700000000.1 127.0.0.1:5000 i 4x\n1700000001.000000 127.0.0.1:5000 o 4344\n");
            var (output, errors, count) = Run(["-t"], [path]);
            Assert.Equal("\n2023-11-14_22:13:20 127.0.0.1:5000 i: AB\n2023-11-14_22:13:21 127.0.0.1:5000 o: CD", output);
            Assert.Equal(2, count);
            Assert.Contains($"{path}:2: expected 4 fields", errors, StringComparison.Ordinal);
            Assert.Contains($"{path}:3: the data is not hex", errors, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(new[] { "-z" }, "no such option: -z")]
    [InlineData(new[] { "-a" }, "-a option requires 1 argument")]
    public void Usage_errors_are_optparse_s(string[] args, string error)
    {
        Assert.Null(CapcatCommandLine.Parse(args, out var message, out _));
        Assert.Equal(error, message);
    }

    private static string View(string[] args, int files = 1)
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, Fixture);
            var (output, errors, count) = Run(args, Enumerable.Repeat(path, files).ToArray());
            Assert.Equal(0, count);
            Assert.Equal("", errors);
            return output;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (string Output, string Errors, int Count) Run(string[] args, string[] files)
    {
        var options = CapcatCommandLine.Parse([.. args, .. files], out var error, out _);
        Assert.True(options is not null, error);
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        var viewer = new CaptureViewer(options, output, errors, TimeZoneInfo.Utc);
        viewer.Run();
        return (Encoding.Latin1.GetString(output.ToArray()), errors.ToString(), viewer.Errors);
    }
}
