#!/usr/bin/env python3
"""Network fuzzing of a running tpt: hostile byte streams on real sockets, for the engine under the data path.

    bench/netfuzz/netfuzz.py --port P --backend-port B --pid PID [--seconds 180] [--workers 16] [--seed N]

Each connection sends a mutation of a real ClientHello (bit flips, truncation, extension, bytes inserted, the
record or handshake lengths rewritten, random garbage) split into random chunks with random pauses, then ends in
one of several ways: FIN, reset (SO_LINGER 0), FIN and never read, vanish mid-hello, stream more bytes. A probe
checks every few seconds that an ordinary client is still routed (the backend's echo comes back). At the end it
waits for tpt's descriptors to return to their starting count (+ a small slack) and prints one summary line;
exit 0 only if tpt stayed alive, every probe passed and the descriptors came back.
"""
import argparse, os, random, socket, ssl, struct, sys, threading, time

def hello(sni):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()

def mutate(rng, base):
    data = bytearray(base)
    kind = rng.randrange(8)
    if kind == 0:
        for _ in range(rng.randrange(1, 16)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data = data[: rng.randrange(len(data))]
    elif kind == 2:
        data += os.urandom(rng.randrange(1, 20000))
    elif kind == 3:
        at = rng.randrange(len(data))
        data[at:at] = os.urandom(rng.randrange(1, 300))
    elif kind == 4 and len(data) > 9:
        struct.pack_into(">H", data, 3, rng.randrange(65536))
    elif kind == 5 and len(data) > 9:
        data[6:9] = rng.randrange(1 << 24).to_bytes(3, "big")
    elif kind == 6:
        data = bytearray(os.urandom(rng.randrange(0, 4000)))
    return bytes(data)

def hostile(rng, port, base, stats):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        payload = mutate(rng, base)
        ending = rng.randrange(5)
        if ending == 3:
            payload = payload[: rng.randrange(len(payload) + 1)]
        i = 0
        while i < len(payload):
            n = rng.choice([1, 2, 5, 64, 512, 4096, 65536])
            s.sendall(payload[i:i + n])
            i += n
            if rng.random() < 0.05:
                time.sleep(rng.random() * 0.05)
        if ending == 0:
            s.shutdown(socket.SHUT_WR)
            s.recv(65536)
        elif ending == 1:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif ending == 2:
            s.shutdown(socket.SHUT_WR)
            time.sleep(rng.random() * 0.2)
        elif ending == 4:
            for _ in range(rng.randrange(1, 50)):
                s.sendall(os.urandom(rng.randrange(1, 65536)))
        stats["sent"] += 1
    except OSError:
        stats["oserror"] += 1
    finally:
        s.close()

def probe(port, base):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(base)
        got = b""
        while len(got) < len(base):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got.endswith(base)

def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--sni", default="a.test")
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    base = hello(args.sni)
    start_fds = fds(args.pid)
    stats = {"sent": 0, "oserror": 0}
    probes = {"ok": 0, "failed": 0}
    stop = time.time() + args.seconds

    def worker(n):
        rng = random.Random(args.seed * 1000 + n)
        while time.time() < stop:
            hostile(rng, args.port, base, stats)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.workers)]
    for t in threads:
        t.start()
    while time.time() < stop:
        time.sleep(2)
        try:
            probes["ok" if probe(args.port, base) else "failed"] += 1
        except OSError:
            probes["failed"] += 1
    for t in threads:
        t.join()
    deadline = time.time() + 30
    while time.time() < deadline and fds(args.pid) > start_fds + 4:
        time.sleep(0.2)
    alive = os.path.exists(f"/proc/{args.pid}")
    end_fds = fds(args.pid) if alive else -1
    ok = alive and probes["failed"] == 0 and probes["ok"] > 0 and end_fds <= start_fds + 4
    print(f"netfuzz connections={stats['sent'] + stats['oserror']} oserrors={stats['oserror']} probes_ok={probes['ok']} "
          f"probes_failed={probes['failed']} fds_start={start_fds} fds_end={end_fds} alive={alive} {'PASSED' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)

if __name__ == "__main__":
    main()
