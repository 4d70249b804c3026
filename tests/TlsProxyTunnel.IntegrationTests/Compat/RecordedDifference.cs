using System.Text.RegularExpressions;

namespace TlsProxyTunnel.IntegrationTests.Compat;

/// <summary>
/// A test of tls-proxy-tunnel's VTest suite that checks behaviour tpt changed on purpose (a row of the README's
/// "Differences from tls-proxy-tunnel"), with the one way it may fail against tpt: every failure line varnishtest
/// prints matches <see cref="FailureLines"/>, the <see cref="Evidence"/> lines appear in that order, and the file
/// passes once <see cref="WithoutIt"/> has removed only the disputed check. Any other failure fails the test.
/// </summary>
public sealed record RecordedDifference(
    string File,
    string Reason,
    IReadOnlyList<Regex> FailureLines,
    IReadOnlyList<Regex> Evidence,
    Func<string, string> WithoutIt)
{
    public static IReadOnlyList<RecordedDifference> All { get; } =
    [
        new(
            "v0007_connect_headers.vtc",
            "its second part expects a header's unset $VAR to be found per connection (tpt closes that connection); " +
            "tpt refuses to start on an unset variable, naming it, so the listener it waits for never opens",
            FailureLines:
            [
                new(@"^---- ptpt2 +Bad exit status: 0x0100 exit 0x1 signal 0 core 0$"),
                new(@"^---- top +shell_exit not as expected: got 0x0001 wanted 0x0000$"),
                // The test's clean-up signals the tpt that already exited.
                new(@"^---- ptpt2 +Failed to send signal 15 \(No such process\)$"),
            ],
            Evidence:
            [
                // The first part (the variable set) passed...
                new(@"^\*\*\*\* top +shell_out\|OK: header substitution resolved correctly and tunnel works$"),
                // ...then tpt refused the configuration with the variable unset and exited 1 before binding...
                new(@"^\*\*\*\* ptpt2 +stderr\|.*\bPROXY_VAR_THAT_DOES_NOT_EXIST\b.*\bnot set\b"),
                new(@"^---- ptpt2 +Bad exit status: 0x0100 exit 0x1 "),
                // ...so the wait for its listener is the step that failed.
                new(@"^\*\*\*\* top +shell_out\|ERROR: tpt2 did not listen on [0-9]+ in time$"),
                new(@"^---- top +shell_exit not as expected: got 0x0001 wanted 0x0000$"),
            ],
            WithoutIt: text => VTestSuite.CutFrom(text, "# -------------------------------------------------------------------------\n# Test 2: missing env var")),
        new(
            "v0008_stats_interval.vtc",
            "its fake proxy answers 200 before reading the CONNECT request, then echoes that request into the tunnel; " +
            "the test expects those bytes never to reach the client (tls-proxy-tunnel drops what follows the response " +
            "in the same read), while tpt passes everything after a 2xx on, as the tunnel's data",
            FailureLines:
            [
                new(@"^---- top +shell_exit not as expected: got 0x0001 wanted 0x0000$"),
            ],
            Evidence:
            [
                // The client's first echo is the proxy's copy of tpt's CONNECT request instead of its own bytes.
                new(@"^\*\*\*\* top +shell_out\|Echo mismatch: sent b'chunk-0', got b'CONNECT ext\.example\.com:443 "),
                new(@"^---- top +shell_exit not as expected: got 0x0001 wanted 0x0000$"),
            ],
            // A proxy that reads the request before it answers, as HTTP has it; the stats_interval check then runs too.
            WithoutIt: text => VTestSuite.ReplaceOnce(
                text,
                """
                def handle(conn):
                    conn.sendall(b'HTTP/1.1 200 Connection Established\r\n\r\n')
                """,
                """
                def handle(conn):
                    buf = b''
                    while b'\r\n\r\n' not in buf:
                        chunk = conn.recv(4096)
                        if not chunk:
                            return
                        buf += chunk
                    conn.sendall(b'HTTP/1.1 200 Connection Established\r\n\r\n')
                """)),
    ];

    public static RecordedDifference? For(string file) => All.SingleOrDefault(d => d.File == file);

    public void AssertFailsExactlyAsRecorded(VarnishTestRun run)
    {
        Assert.False(run.Passed, $"{File} passed, but it is recorded to fail because {Reason}; if tpt changed, update the record:\n{run.Log}");

        foreach (var failure in run.Failures)
        {
            Assert.True(FailureLines.Any(r => r.IsMatch(failure)), $"{File} failed in a way that is not recorded:\n  {failure}\n\n{run.Log}");
        }

        var at = 0;
        foreach (var expected in Evidence)
        {
            while (at < run.Lines.Count && !expected.IsMatch(run.Lines[at]))
            {
                at++;
            }

            Assert.True(at < run.Lines.Count, $"{File} did not fail as recorded ({Reason}): no line matching\n  {expected}\nin order after the previous evidence:\n\n{run.Log}");
            at++;
        }
    }
}
