using System.Security.Cryptography;
using System.Text;
using TlsProxyTunnel.Tls;
using static TlsProxyTunnel.Tests.Tls.ClientHelloBuilder;

namespace TlsProxyTunnel.Tests.Tls;

/// <summary>
/// The sni-routers.md §2.10 corpus, one test per case (CaseNN = item NN) that a pure parser can
/// answer; connection-level items (timeouts, half-close, PROXY headers) belong to the listener.
/// </summary>
public sealed class ClientHelloParserTests
{
    internal const string RealVectorHex =
        "1603010200010001fc0303357aba3d89d25e7aa2d4e56dd5a39841b0ae41fce664fdae0b276d90a80afa9020596f13184ad11cc4838cfc93ac6b3bac67d036b0a21b04f7de02fb961edc76a800202a2a130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f003501000193eaea000000000013001100000e7777772e6c697275692e7465636800170000ff01000100000a000a0008baba001d00170018000b00020100002300000010000e000c02683208687474702f312e31000500050100000000000d0012001004030804040105030805050108060601001200000033002b0029baba000100001d00203b45f9bc6e238641a5b2f503ec674ad79a179f0c386d36f34e5da47d1579a43f002d00020101002b000b0ababa0304030303020301001b0003020002446900050003026832dada000100001500c5";

    /// <summary>tls-proxy-tunnel.md §7: 320 bytes of data then 197 zero bytes of padding.</summary>
    internal static byte[] RealVector() => [.. Convert.FromHexString(RealVectorHex), .. new byte[197]];

    internal static (ClientHelloOutcome Outcome, string? Host) Parse(ReadOnlySpan<byte> data, int maxBytes = 16384)
    {
        Span<byte> host = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        var outcome = ClientHelloParser.Parse(data, host, out var length, maxBytes);
        Assert.InRange(length, 0, ClientHelloParser.MaxHostNameLength);
        if (outcome != ClientHelloOutcome.SniFound)
        {
            Assert.Equal(0, length);
            return (outcome, null);
        }

        return (outcome, Encoding.Latin1.GetString(host[..length]));
    }

    private static void AssertSni(string expected, byte[] data)
    {
        Assert.Equal((ClientHelloOutcome.SniFound, expected), Parse(data));
    }

    private static void AssertOutcome(ClientHelloOutcome expected, byte[] data, int maxBytes = 16384)
    {
        Assert.Equal(expected, Parse(data, maxBytes).Outcome);
    }

    private static void AssertEveryStrictPrefixNeedsMoreData(byte[] data)
    {
        for (var i = 0; i < data.Length; i++)
        {
            Assert.Equal(ClientHelloOutcome.NeedMoreData, Parse(data.AsSpan(0, i)).Outcome);
        }
    }

    [Fact]
    public void Real_vector_has_documented_hash_and_routes_on_www_lirui_tech()
    {
        var vector = RealVector();
        Assert.Equal(517, vector.Length);
        var hash = Convert.ToHexStringLower(SHA256.HashData(vector));
        Assert.StartsWith("7ea7c6eb", hash, StringComparison.Ordinal);
        Assert.EndsWith("11dbfc95", hash, StringComparison.Ordinal);
        AssertSni("www.lirui.tech", vector);
        AssertEveryStrictPrefixNeedsMoreData(vector);
    }

    [Fact]
    public void Real_vector_truncated_to_475_bytes_like_the_upstream_unit_test_needs_more_data()
    {
        AssertOutcome(ClientHelloOutcome.NeedMoreData, RealVector()[..475]);
    }

    [Fact]
    public void Builder_browser_hello_round_trips() => AssertSni("example.com", Browser("example.com").Build());

    [Fact]
    public void Case01_fewer_than_five_bytes_need_more_data()
    {
        AssertOutcome(ClientHelloOutcome.NeedMoreData, []);
        AssertOutcome(ClientHelloOutcome.NeedMoreData, [0x16, 0x03, 0x01, 0x02]);
    }

    [Fact]
    public void Case02_five_bytes_of_FF_not_TLS() => AssertOutcome(ClientHelloOutcome.NotTls, [0xff, 0xff, 0xff, 0xff, 0xff]);

    [Fact]
    public void Case02_first_byte_decides_not_TLS() => AssertOutcome(ClientHelloOutcome.NotTls, "G"u8.ToArray());

    [Fact]
    public void Case03_bogus_record_version_0410_empty_record_not_TLS() => AssertOutcome(ClientHelloOutcome.NotTls, [0x16, 0x04, 0x10, 0x00, 0x00]);

    [Fact]
    public void Case03_record_version_minor_above_4_not_TLS() => AssertOutcome(ClientHelloOutcome.NotTls, [0x16, 0x03, 0x05]);

    [Fact]
    public void Case03_empty_first_record_with_valid_version_malformed() => AssertOutcome(ClientHelloOutcome.Malformed, [0x16, 0x03, 0x01, 0x00, 0x00, 0x01]);

    [Fact]
    public void Case04_application_data_record_first_not_TLS() =>
        AssertOutcome(ClientHelloOutcome.NotTls, Frame(Browser("a.test").BuildMessage(), 16384, contentType: 0x17));

    [Fact]
    public void Case05_server_hello_handshake_type_not_TLS() =>
        AssertOutcome(ClientHelloOutcome.NotTls, new ClientHelloBuilder { HandshakeType = 0x02 }.WithServerName("a.test").Build());

    [Fact]
    public void Case06_record_length_announcing_more_than_sent_need_more_data()
    {
        var hello = Browser("a.test").Build();
        AssertOutcome(ClientHelloOutcome.NeedMoreData, hello[..(hello.Length / 2)]);
    }

    [Fact]
    public void Case07_record_above_16384_malformed()
    {
        // A legal-size hello in an illegal 20 000-byte record: framing is what's wrong.
        var message = Browser("a.test").BuildMessage();
        byte[] data = [.. RecordHeader(0x16, 0x0301, 20000), .. message, .. new byte[20000 - message.Length]];
        AssertOutcome(ClientHelloOutcome.Malformed, data, maxBytes: 65536);
        AssertOutcome(ClientHelloOutcome.Malformed, data);
    }

    [Fact]
    public void Case07_record_of_65535_with_huge_hello_too_large()
    {
        byte[] data = [.. RecordHeader(0x16, 0x0301, 65535), 0x01, 0x00, 0xff, 0xfb];
        AssertOutcome(ClientHelloOutcome.TooLarge, data);
    }

    [Fact]
    public void Case08_handshake_length_FFFFFF_too_large_immediately() =>
        AssertOutcome(ClientHelloOutcome.TooLarge, [0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff]);

    [Theory]
    [InlineData(-1)]
    [InlineData(-2)]
    public void Case09_handshake_length_shorter_than_content_malformed(int delta) =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder { HandshakeLengthDelta = delta }.WithServerName("a.test").Build());

    [Fact]
    public void Case09_handshake_length_longer_than_content_malformed_without_waiting()
    {
        // The extensions length no longer reaches the message end, which is known before the
        // missing bytes would arrive, so the parser need not wait for them.
        var builder = new ClientHelloBuilder { HandshakeLengthDelta = 3 }.WithServerName("a.test");
        var message = builder.BuildMessage();
        AssertOutcome(ClientHelloOutcome.Malformed, Frame(message, 16384));
        AssertOutcome(ClientHelloOutcome.Malformed, Frame([.. message, 0, 0, 0], 16384));
    }

    [Fact]
    public void Case10_record_version_0300_carrying_TLS_12_hello_accepted() =>
        AssertSni("a.test", new ClientHelloBuilder { RecordVersion = 0x0300, ClientVersion = 0x0303 }.WithServerName("a.test").Build());

    [Theory]
    [InlineData(new byte[] { 0x80, 0x67, 0x01, 0x03, 0x01, 0x00, 0x4e, 0x00, 0x00, 0x00, 0x10 })]
    [InlineData(new byte[] { 0x80, 0x1c, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x10 })]
    [InlineData(new byte[] { 0x80, 0x1c, 0x01, 0x03, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x10 })]
    public void Case11_SslV2CompatibleHello_NotTls(byte[] data) => AssertOutcome(ClientHelloOutcome.NotTls, [.. data, .. new byte[40]]);

    [Fact]
    public void Case12_SSL_3_hello_without_extensions_no_SNI() =>
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder { RecordVersion = 0x0300, ClientVersion = 0x0300, OmitExtensionsBlock = true, SessionId = [] }.Build());

    [Theory]
    [InlineData(0x0300)]
    [InlineData(0x0305)]
    [InlineData(0x0002)]
    public void Case13_client_version_not_policed_routes_on_SNI(int clientVersion) =>
        AssertSni("a.test", new ClientHelloBuilder { ClientVersion = (ushort)clientVersion }.WithServerName("a.test").Build());

    [Fact]
    public void Case14_delivered_one_byte_per_segment_same_as_one_write()
    {
        var hello = Browser("one.byte.test").Build();
        AssertEveryStrictPrefixNeedsMoreData(hello);
        AssertSni("one.byte.test", hello);
    }

    [Fact]
    public void Case14_one_byte_records_same_as_one_record()
    {
        var hello = Frame(Browser("tiny.records.test").BuildMessage(), 1);
        AssertEveryStrictPrefixNeedsMoreData(hello);
        AssertSni("tiny.records.test", hello);
    }

    [Fact]
    public void Case15_split_inside_host_name_with_last_record_one_byte()
    {
        var message = new ClientHelloBuilder().WithServerName("foof").BuildMessage();
        var split = message.Length - 1;
        AssertSni("foof", Frame(message, [split, 1]));

        // Split inside the name itself, again with a 1-byte tail record.
        var nameStart = message.AsSpan().IndexOf("foof"u8);
        AssertSni("foof", Frame(message, [nameStart + 3, 1, message.Length - nameStart - 4]));
        AssertSni("foof", Frame(message, [nameStart + 2, message.Length - nameStart - 3, 1]));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Case16_post_quantum_hello_split_over_segments_and_records(int parts)
    {
        var message = PostQuantum("pq.example").BuildMessage();
        Assert.InRange(message.Length, 1600, 1900);
        var single = Frame(message, 16384);
        AssertSni("pq.example", single);

        var size = (message.Length / parts) + 1;
        AssertSni("pq.example", Frame(message, size));

        // Segment boundaries: every prefix ending at a segment boundary still waits.
        for (var cut = size; cut < single.Length; cut += size)
        {
            AssertOutcome(ClientHelloOutcome.NeedMoreData, single[..cut]);
        }
    }

    [Fact]
    public void Case17_hello_17000_bytes_too_large()
    {
        var message = new ClientHelloBuilder().WithServerName("big.test").WithPaddingTo(17000).BuildMessage();
        Assert.Equal(17000, message.Length);
        var legalRecords = Frame(message, 16384);

        // Decided from the first 9 bytes, before the rest arrives.
        AssertOutcome(ClientHelloOutcome.TooLarge, legalRecords[..9]);
        AssertOutcome(ClientHelloOutcome.TooLarge, legalRecords);
        AssertOutcome(ClientHelloOutcome.TooLarge, Frame(message, 100));
        Assert.Equal((ClientHelloOutcome.SniFound, "big.test"), Parse(legalRecords, 32768));
    }

    [Fact]
    public void Case17_cap_counts_record_headers()
    {
        var message = new ClientHelloBuilder().WithServerName("cap.test").BuildMessage();
        var oneRecord = Frame(message, 16384);
        Assert.Equal(ClientHelloOutcome.SniFound, Parse(oneRecord, oneRecord.Length).Outcome);
        Assert.Equal(ClientHelloOutcome.TooLarge, Parse(oneRecord, oneRecord.Length - 1).Outcome);

        var tinyRecords = Frame(message, 10);
        Assert.Equal(ClientHelloOutcome.SniFound, Parse(tinyRecords, tinyRecords.Length).Outcome);
        Assert.Equal(ClientHelloOutcome.TooLarge, Parse(tinyRecords, tinyRecords.Length - 1).Outcome);
    }

    [Fact]
    public void Case21_hello_followed_by_more_records_ignores_them()
    {
        var hello = Browser("early.test").Build();
        AssertSni("early.test", [.. hello, .. RecordHeader(0x17, 0x0303, 3), 1, 2, 3]);
        AssertSni("early.test", [.. hello, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]);
        AssertSni("early.test", [.. hello, .. RecordHeader(0x16, 0x0303, 0)]);
    }

    [Fact]
    public void Case22_plaintext_larger_than_any_buffer_not_TLS()
    {
        byte[] data = [.. "GET / HTTP/1.1\r\nHost: a.test\r\n"u8, .. new byte[40000]];
        AssertOutcome(ClientHelloOutcome.NotTls, data);
    }

    [Fact]
    public void Case23_no_extensions_block_no_SNI() =>
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder { OmitExtensionsBlock = true }.Build());

    [Fact]
    public void Case23_empty_extensions_block_no_SNI() => AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().Build());

    [Fact]
    public void Case24_extensions_length_past_end_malformed() =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder { ExtensionsLengthOverride = 0x0117 }.WithServerName("a.test").Build());

    [Fact]
    public void Case25_trailing_bytes_after_last_extension_malformed() =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder { TrailingBodyBytes = [0xde, 0xad] }.WithServerName("a.test").Build());

    [Fact]
    public void Case25_trailing_garbage_inside_extensions_block_malformed()
    {
        var builder = new ClientHelloBuilder().WithServerName("a.test");
        var valid = builder.BuildMessage();
        var extensionsLength = valid.Length - 4 - 2 - 32 - 1 - 32 - 2 - 10 - 1 - 1 - 2;
        builder.ExtensionsLengthOverride = extensionsLength + 3;
        builder.TrailingBodyBytes = [0x00, 0x15, 0x00];
        AssertOutcome(ClientHelloOutcome.Malformed, builder.Build());
    }

    [Fact]
    public void Case25_extension_length_runs_past_block_malformed() =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder { TrailingBodyBytes = [0x00, 0x23, 0x00, 0x09], ExtensionsLengthOverride = 4 }.Build());

    [Fact]
    public void Case25_lone_byte_where_extensions_length_should_be_malformed() =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder { OmitExtensionsBlock = true, TrailingBodyBytes = [0x00] }.Build());

    [Fact]
    public void Case26_only_session_ticket_no_SNI() =>
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().WithExtension(ExtSessionTicket, []).Build());

    [Fact]
    public void Case27_SNI_after_heartbeat() =>
        AssertSni("late.test", new ClientHelloBuilder().WithExtension(ExtHeartbeat, [0x01]).WithServerName("late.test").Build());

    [Fact]
    public void Case27_SNI_after_128_byte_padding() =>
        AssertSni("late.test", new ClientHelloBuilder().WithExtension(ExtPadding, new byte[128]).WithServerName("late.test").Build());

    [Fact]
    public void Case27_empty_session_ticket_after_SNI() =>
        AssertSni("late.test", new ClientHelloBuilder().WithServerName("late.test").WithExtension(ExtSessionTicket, []).Build());

    [Fact]
    public void Case28_duplicate_SNI_extension_malformed() =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder().WithServerName("a.test").WithServerName("b.test").Build());

    [Fact]
    public void Case29_many_extensions_and_one_larger_than_4_KiB_still_parsed()
    {
        var builder = Browser("many.test");
        for (var i = 0; i < 70; i++)
        {
            builder.WithExtension((ushort)(0x7000 + i), [(byte)i]);
        }

        builder.WithExtension(0x7fff, new byte[5000]);
        AssertSni("many.test", builder.Build());
    }

    [Fact]
    public void Case30_grease_extensions_and_ciphers_ignored()
    {
        var builder = new ClientHelloBuilder { CipherSuites = [0x3a3a, 0x1301] }
            .WithGrease(0x0a0a).WithGrease(0xfafa, [0x00]).WithServerName("grease.test").WithGrease(0x1a1a);
        AssertSni("grease.test", builder.Build());
    }

    [Fact]
    public void Case31_renegotiation_info_empty_or_not_not_policed()
    {
        AssertSni("a.test", new ClientHelloBuilder().WithExtension(ExtRenegotiationInfo, [0x00]).WithServerName("a.test").Build());
        AssertSni("a.test", new ClientHelloBuilder().WithExtension(ExtRenegotiationInfo, [0x04, 1, 2, 3, 4]).WithServerName("a.test").Build());
    }

    [Fact]
    public void Case32_supported_versions_draft_accepted() =>
        AssertSni("draft.test", new ClientHelloBuilder().WithExtension(ExtSupportedVersions, U8Vector(U16s(0x7f1c, 0x0303))).WithServerName("draft.test").Build());

    [Fact]
    public void Case33_ECH_outer_hello_routes_on_public_name_and_reports_ECH()
    {
        var hello = PostQuantum("public.ech.test").Build();
        Span<byte> host = stackalloc byte[255];
        Assert.Equal(ClientHelloOutcome.SniFound, ClientHelloParser.Parse(hello, host, out var length, out var ech));
        Assert.True(ech);
        Assert.Equal("public.ech.test", Encoding.ASCII.GetString(host[..length]));

        Assert.Equal(ClientHelloOutcome.SniFound, ClientHelloParser.Parse(Browser("a.test").Build(), host, out _, out ech));
        Assert.False(ech);
    }

    [Fact]
    public void Case34_zero_length_host_name_no_SNI() =>
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().WithServerNameEntries((0, [])).Build());

    [Fact]
    public void Case34_zero_length_first_host_name_then_another_takes_the_usable_one() =>
        AssertSni("b.test", new ClientHelloBuilder().WithServerNameEntries((0, []), (0, "b.test"u8.ToArray())).Build());

    [Fact]
    public void Case34_only_a_zero_length_host_name_no_SNI() =>
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().WithServerNameEntries((0, [])).Build());

    [Fact]
    public void Case35_extension_length_14_list_length_3_malformed()
    {
        byte[] sni = [0x00, 0x03, 0x00, 0x00, 0x00, .. new byte[9]];
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder().WithExtension(ExtServerName, sni).Build());
    }

    [Fact]
    public void Case35_name_length_past_list_malformed()
    {
        byte[] sni = [0x00, 0x05, 0x00, 0x00, 0x09, (byte)'a', (byte)'b'];
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder().WithExtension(ExtServerName, sni).Build());
    }

    [Fact]
    public void Case35_truncated_entry_header_malformed()
    {
        byte[] sni = [0x00, 0x02, 0x00, 0x00];
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder().WithExtension(ExtServerName, sni).Build());
    }

    [Fact]
    public void Case35_SNI_extension_of_one_byte_malformed() =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder().WithExtension(ExtServerName, [0x00]).Build());

    [Fact]
    public void Case35_empty_SNI_extension_or_list_no_SNI()
    {
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().WithExtension(ExtServerName, []).Build());
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().WithExtension(ExtServerName, [0x00, 0x00]).Build());
    }

    [Fact]
    public void Case36_only_unknown_name_type_no_SNI() =>
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().WithServerNameEntries((1, "a.test"u8.ToArray())).Build());

    [Fact]
    public void Case37_unknown_name_type_then_host_name_takes_host_name() =>
        AssertSni("second.test", new ClientHelloBuilder().WithServerNameEntries((1, "first.test"u8.ToArray()), (0, "second.test"u8.ToArray())).Build());

    [Fact]
    public void Case38_two_host_names_first_wins() =>
        AssertSni("first.test", new ClientHelloBuilder().WithServerNameEntries((0, "first.test"u8.ToArray()), (0, "second.test"u8.ToArray())).Build());

    [Fact]
    public void Case39_embedded_nul_reported_raw_for_host_name_to_reject() =>
        AssertSni("local\0ost", new ClientHelloBuilder().WithServerName("local\0ost").Build());

    [Theory]
    [InlineData(248)]
    [InlineData(253)]
    [InlineData(255)]
    public void Case42_long_names_up_to_255_found(int length)
    {
        var name = new string('a', length);
        AssertSni(name, new ClientHelloBuilder().WithServerName(name).Build());
    }

    [Theory]
    [InlineData(256)]
    [InlineData(1000)]
    public void Case42_names_over_255_no_SNI(int length) =>
        AssertOutcome(ClientHelloOutcome.NoSni, new ClientHelloBuilder().WithServerName(new string('a', length)).Build());

    [Fact]
    public void Case45_literal_star_passed_through_raw() => AssertSni("*.example.com", new ClientHelloBuilder().WithServerName("*.example.com").Build());

    [Fact]
    public void Non_handshake_record_before_hello_complete_malformed()
    {
        var message = Browser("a.test").BuildMessage();
        byte[] data = [.. Frame(message.AsSpan(0, 50), 16384), .. RecordHeader(0x17, 0x0303, 2), 1, 2, .. Frame(message.AsSpan(50), 16384)];
        AssertOutcome(ClientHelloOutcome.Malformed, data);
        AssertOutcome(ClientHelloOutcome.Malformed, data[..56]);
    }

    [Fact]
    public void Zero_length_record_in_the_middle_malformed()
    {
        var message = Browser("a.test").BuildMessage();
        byte[] data = [.. Frame(message.AsSpan(0, 50), 16384), .. RecordHeader(0x16, 0x0303, 0), .. Frame(message.AsSpan(50), 16384)];
        AssertOutcome(ClientHelloOutcome.Malformed, data);
    }

    [Fact]
    public void Later_record_with_bad_version_malformed()
    {
        var message = Browser("a.test").BuildMessage();
        byte[] data = [.. Frame(message.AsSpan(0, 50), 16384), .. Frame(message.AsSpan(50), 16384, recordVersion: 0x0402)];
        AssertOutcome(ClientHelloOutcome.Malformed, data);
    }

    [Fact]
    public void Session_ID_longer_than_32_malformed() =>
        AssertOutcome(ClientHelloOutcome.Malformed, new ClientHelloBuilder { SessionId = new byte[33] }.WithServerName("a.test").Build());

    [Fact]
    public void Handshake_body_empty_malformed() => AssertOutcome(ClientHelloOutcome.Malformed, [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]);

    [Fact]
    public void Record_versions_from_0300_to_0304_accepted()
    {
        for (ushort version = 0x0300; version <= 0x0304; version++)
        {
            AssertSni("v.test", new ClientHelloBuilder { RecordVersion = version }.WithServerName("v.test").Build());
        }
    }
}
