#!/usr/bin/env python3
"""Start-up time (process start -> first listener accepting) and resident memory after start, no connections.

    bench/startup.py /path/to/tpt [runs]          # tpt
    bench/startup.py haproxy [runs]               # the same measurement for HAProxy and nginx, for comparison
    bench/startup.py nginx [runs]

Each run starts the router in the foreground on a fresh config bound to a free loopback port, polls connect()
every 0.5 ms until it is accepted, then reads VmRSS (summed over the process and its children, for nginx's
workers) after one second of idling. Prints the median and range of both.
"""
import os, shutil, socket, statistics, subprocess, sys, tempfile, time

router = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20


def command(port, directory):
    path = os.path.join(directory, "router.conf")
    if router == "haproxy":
        text = (f"global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n"
                f"  timeout server 30s\nfrontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n"
                f"backend b\n  server s 127.0.0.1:9\n")
        argv = [shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", path]
    elif router == "nginx":
        text = (f"load_module /usr/lib/nginx/modules/ngx_stream_module.so;\nworker_processes 2;\npid {directory}/nginx.pid;\n"
                f"error_log stderr;\nevents {{ worker_connections 10000; }}\n"
                f"stream {{ server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:9; }} }}\n")
        argv = [shutil.which("nginx") or "/usr/sbin/nginx", "-g", "daemon off;", "-p", directory, "-c", path]
    else:
        text = f"version: 2\nlog: warn\nservers:\n  s:\n    listen: ['127.0.0.1:{port}']\n    tls: true\n    default: echo\n"
        argv = [router, "-c", path]
    with open(path, "w") as f:
        f.write(text)
    return argv


def rss_kib(pid):
    total = 0
    for p in [pid] + children(pid):
        try:
            with open(f"/proc/{p}/status") as st:
                total += next(int(l.split()[1]) for l in st if l.startswith("VmRSS:"))
        except (FileNotFoundError, StopIteration):
            pass
    return total


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


startups, rss = [], []
for _ in range(runs):
    probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
    with tempfile.TemporaryDirectory() as directory:
        argv = command(port, directory)
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = t0 + 10
        while True:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", port)); s.close(); break
            except OSError:
                s.close()
                if time.perf_counter() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{router} did not start listening")
                time.sleep(0.0005)
        startups.append((time.perf_counter() - t0) * 1000)
        time.sleep(1)
        rss.append(rss_kib(proc.pid) / 1024)
        proc.terminate(); proc.wait(10)

print(f"router={os.path.basename(router)} runs={runs} startup_ms_median={statistics.median(startups):.1f} "
      f"startup_ms_min={min(startups):.1f} startup_ms_max={max(startups):.1f} "
      f"rss_mib_median={statistics.median(rss):.1f} rss_mib_max={max(rss):.1f}")
