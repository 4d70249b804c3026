#!/usr/bin/env python3
"""Reverse relay benchmark (issue #14): pairing latency and throughput through a tpt relay and a tpt publisher,
against a direct connection and the plain router path.

    python3 bench/relay.py TPT_BINARY [ROUNDS]

Paths, each ending at the same sink on loopback:
  direct   client -> sink
  router   client -> tpt (plain server, default: sink) -> sink
  relay    client -> tpt tls_relay public port -> tpt relay_publisher (reverse dial, default: sink) -> sink
           (two tpt processes; the control channel is mutual TLS, the data path plain TCP as in tx_tlsrelay)

Latency: connect, send an 8-byte id at once, until the sink has read it (so the relay path includes the
new_connection line, the reverse dial and the pairing). Sequential, 1000 connections per round, p50/p99.
Throughput: 4 connections each sending 512 MiB, until the sink has read all of it.

Reference paths, for what a second TCP hop costs on the same machine whatever forwards it:
  router2  client -> tpt router -> tpt router -> sink (two plain hops in series, no relay protocol)
  haproxy, haproxy2  one HAProxy (mode tcp) and two in series, when haproxy is installed
Every process shares the same cores, so a path with two forwarding hops gets less CPU per byte than a path with
one; compare relay with router2 (and haproxy2 / haproxy) to see what the relay itself adds.
"""
import asyncio, atexit, os, re, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

TPT = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
CONNS = 1000
STREAMS, PER_STREAM = 4, 512 * 1024 * 1024


def pki(directory):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", f"{directory}/ca.key", "-out", f"{directory}/ca.crt", "-days", "2", "-subj", "/CN=bench ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    for name in ("relay", "pub"):
        run("req", "-x509", "-CA", f"{directory}/ca.crt", "-CAkey", f"{directory}/ca.key", *ec, "-keyout", f"{directory}/{name}.key",
            "-out", f"{directory}/{name}.crt", "-days", "2", "-subj", f"/CN={name}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "extendedKeyUsage=serverAuth,clientAuth")


def start(config_text, directory, name, wait_for):
    path = f"{directory}/{name}.yaml"
    with open(path, "w") as f:
        f.write(config_text)
    env = dict(os.environ, TPT_LOG="warn,TlsProxyTunnel.Relay=info,TlsProxyTunnel.Publisher=info,TlsProxyTunnel.Listeners=info")
    proc = subprocess.Popen([TPT, "-c", path], stderr=subprocess.PIPE, text=True, env=env)
    # Stopped however the script ends (a later process that fails to start exits it early).
    atexit.register(proc.terminate)
    lines = []
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        m = re.search(wait_for, line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m
    raise SystemExit(f"{name} did not start:\n{''.join(lines)}")


class Sink:
    """Reads an 8-byte id first (latency), then counts bytes (throughput)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.arrived = {}
        self.cond = threading.Condition()
        self.bytes = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        head = b""
        while len(head) < 8:
            chunk = conn.recv(8 - len(head))
            if not chunk:
                conn.close()
                return
            head += chunk
        with self.cond:
            self.arrived[head] = time.perf_counter()
            self.cond.notify_all()
        total = 0
        while True:
            n = conn.recv_into(view)
            if n == 0:
                break
            total += n
        with self.cond:
            self.bytes += total
            self.cond.notify_all()
        conn.close()

    def wait_id(self, ident):
        with self.cond:
            self.cond.wait_for(lambda: ident in self.arrived, timeout=10)
            return self.arrived.pop(ident)

    def wait_bytes(self, total):
        with self.cond:
            self.cond.wait_for(lambda: self.bytes >= total, timeout=300)


def latency(port, sink):
    samples = []
    for i in range(CONNS):
        ident = i.to_bytes(8, "big")
        t0 = time.perf_counter()
        c = socket.create_connection(("127.0.0.1", port))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(ident)
        t1 = sink.wait_id(ident)
        samples.append((t1 - t0) * 1000)
        c.close()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def cpu_seconds(proc):
    fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(port, sink):
    sink.bytes = 0
    chunk = b"x" * (1 << 20)

    def send(i):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall((10**9 + i).to_bytes(8, "big"))
        for _ in range(PER_STREAM // len(chunk)):
            c.sendall(chunk)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(STREAMS)]
    for t in threads:
        t.start()
    sink.wait_bytes(STREAMS * PER_STREAM)
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join()
    with sink.cond:
        sink.arrived.clear()
    return STREAMS * PER_STREAM * 8 / elapsed / 1e9


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy(directory, name, target_port):
    """One HAProxy in mode tcp forwarding to target_port; returns (process, port)."""
    port = free_port()
    path = f"{directory}/{name}.cfg"
    with open(path, "w") as f:
        f.write(f"""global
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  server s 127.0.0.1:{target_port}
""")
    proc = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(proc.terminate)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


def router_config(target_port, name="router"):
    return f"""version: 2
log: warn
servers:
  {name}:
    listen: ["127.0.0.1:0"]
    maxclients: 100000
    default: next
upstream:
  next: "tcp://127.0.0.1:{target_port}"
"""


def main():
    directory = tempfile.mkdtemp(prefix="tpt-relay-bench-")
    pki(directory)
    sink = Sink()
    router, m = start(router_config(sink.port), directory, "router", r"Listening: server router on 127\.0\.0\.1:(\d+)")
    router_port = int(m.group(1))
    second, m = start(router_config(sink.port, "second"), directory, "second", r"Listening: server second on 127\.0\.0\.1:(\d+)")
    first, m = start(router_config(int(m.group(1)), "first"), directory, "first", r"Listening: server first on 127\.0\.0\.1:(\d+)")
    router2_port = int(m.group(1))
    relay, m = start(f"""version: 2
servers:
  relay:
    kind: tls_relay
    listen: ["127.0.0.1:0"]
    maxclients: 100000
    terminate_tls: {{cert: {directory}/relay.crt, key: {directory}/relay.key, client_ca: {directory}/ca.crt, client_cert: require}}
    relay: {{port_count: 2, advertise_host: 127.0.0.1, max_pending: 100000}}
upstream: {{}}
""", directory, "relay", r"Listening: server relay on 127\.0\.0\.1:(\d+)")
    control = int(m.group(1))
    publisher, m = start(f"""version: 2
servers:
  pub:
    kind: relay_publisher
    relay: "127.0.0.1:{control}"
    relay_tls: {{ca: {directory}/ca.crt, cert: {directory}/pub.crt, key: {directory}/pub.key, verify: chain}}
    maxclients: 100000
    default: sink
upstream:
  sink: "tcp://127.0.0.1:{sink.port}"
""", directory, "publisher", r"published through relay \S+ at 127\.0\.0\.1:(\d+)")
    public = int(m.group(1))
    paths = {"direct": sink.port, "router": router_port, "router2": router2_port, "relay": public}
    watched = {"direct": [], "router": [("router", router)], "router2": [("first", first), ("second", second)], "relay": [("relay", relay), ("publisher", publisher)]}
    others = [router, first, second, relay, publisher]
    if shutil.which("haproxy"):
        h1, h1_port = haproxy(directory, "haproxy", sink.port)
        h2b, h2b_port = haproxy(directory, "haproxy2b", sink.port)
        h2a, h2a_port = haproxy(directory, "haproxy2a", h2b_port)
        paths.update({"haproxy": h1_port, "haproxy2": h2a_port})
        watched.update({"haproxy": [("haproxy", h1)], "haproxy2": [("first", h2a), ("second", h2b)]})
        others += [h1, h2a, h2b]
    results = {name: {"p50": [], "p99": [], "gbps": [], "cpu": []} for name in paths}
    try:
        for r in range(ROUNDS):
            for name, port in paths.items():
                p50, p99 = latency(port, sink)
                before = [cpu_seconds(p) for _, p in watched[name]]
                gbps = throughput(port, sink)
                gigabytes = STREAMS * PER_STREAM / 1e9
                cpu = [(cpu_seconds(p) - b) / gigabytes for (_, p), b in zip(watched[name], before)]
                results[name]["p50"].append(p50)
                results[name]["p99"].append(p99)
                results[name]["gbps"].append(gbps)
                results[name]["cpu"].append(sum(cpu))
                shown = ", ".join(f"{n} {c:.2f}" for (n, _), c in zip(watched[name], cpu))
                print(f"round {r + 1} {name:8} p50 {p50:.3f} ms  p99 {p99:.3f} ms  {gbps:.2f} Gbit/s  CPU-s per GB: {shown or '-'}", flush=True)
    finally:
        for proc in others:
            proc.terminate()
    print("\nmedians over rounds:")
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in results.items()}
    for name in paths:
        print(f"{name:8} p50 {med[name]['p50']:.3f} ms  p99 {med[name]['p99']:.3f} ms  {med[name]['gbps']:.2f} Gbit/s  CPU-s per GB {med[name]['cpu']:.2f}")
    print(f"pairing adds (relay - router): p50 {med['relay']['p50'] - med['router']['p50']:.3f} ms, "
          f"(relay - direct): p50 {med['relay']['p50'] - med['direct']['p50']:.3f} ms")
    print(f"throughput relay / router: {med['relay']['gbps'] / med['router']['gbps']:.2f}x, relay / direct: {med['relay']['gbps'] / med['direct']['gbps']:.2f}x, "
          f"relay / router2: {med['relay']['gbps'] / med['router2']['gbps']:.2f}x, router2 / router: {med['router2']['gbps'] / med['router']['gbps']:.2f}x")
    if "haproxy" in med:
        print(f"HAProxy, a second hop in series: haproxy2 / haproxy {med['haproxy2']['gbps'] / med['haproxy']['gbps']:.2f}x")


main()
