#!/usr/bin/env python3
"""Start-up time (process start -> first listener accepting) and resident memory after start, no connections.

    bench/startup.py /path/to/tpt [runs]

Each run starts tpt on a fresh config bound to a free loopback port, polls connect() every 0.5 ms until it is
accepted, then reads VmRSS from /proc after one second of idling. Prints the median and range of both.
"""
import os, socket, statistics, subprocess, sys, tempfile, time

binary = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
startups, rss = [], []
for _ in range(runs):
    probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(f"version: 2\nlog: warn\nservers:\n  s:\n    listen: ['127.0.0.1:{port}']\n    tls: true\n    default: echo\n")
        path = f.name
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "-c", path], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = t0 + 10
    while True:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port)); s.close(); break
        except OSError:
            s.close()
            if time.perf_counter() > deadline or proc.poll() is not None:
                raise SystemExit("tpt did not start listening")
            time.sleep(0.0005)
    startups.append((time.perf_counter() - t0) * 1000)
    time.sleep(1)
    with open(f"/proc/{proc.pid}/status") as st:
        rss.append(next(int(l.split()[1]) for l in st if l.startswith("VmRSS:")) / 1024)
    proc.terminate(); proc.wait(10); os.unlink(path)

print(f"runs={runs} startup_ms_median={statistics.median(startups):.1f} startup_ms_min={min(startups):.1f} startup_ms_max={max(startups):.1f} "
      f"rss_mib_median={statistics.median(rss):.1f} rss_mib_max={max(rss):.1f}")
