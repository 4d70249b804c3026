#!/usr/bin/env bash
# The warm pool (issue 12): tpt's upstream `pool` beside the original ptw (../shared/interop/ptw) with the same
# settings, against the same TLS server (HAProxy 2.6, TLS 1.3, ECDSA P-256) behind a delay relay that holds every
# chunk for DELAY_MS in each direction (this kernel has no netem). Scenarios:
#   latency    time from the client's connect to the upstream's first byte (an HTTP request sent at once, HAProxy
#              answers it), REQUESTS sequential clients spaced so that refills finish:
#                tpt_fresh   tpt without a pool: TCP + TLS handshake per client
#                tpt_pooled  tpt with pool size POOL
#                ptw_pooled  ptw -n POOL
#              and the exhausted pool (size 1, clients two at a time; the second waits for a new connection):
#                tpt_waiter, ptw_waiter
#   idle       RSS per idle pooled connection: the router with IDLE pooled connections against one (direct to
#              HAProxy, no relay), /proc/PID/status VmRSS once HAProxy counts them all
#   throughput Gbit/s of BYTES echoed through router -> TLS -> HAProxy -> the harness's echo backend, with the
#              router's CPU per GB; tpt runs as `tpt ptw` with ptw's own flags
# The relay delays data, not TCP's own handshake (a userspace relay cannot), so fresh pays the TLS handshake's
# round trip over the delay but not TCP's; on a real path the gap is one round trip larger.
#
#   bench/pool.sh                # publishes tpt as Native AOT first; TPT_BINARY=path skips that
#   TPT_BINARY=/tmp/tpt DELAY_MS=10 REQUESTS=300 POOL=8 IDLE=1000 BYTES=500000000 BASE=19600 bench/pool.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$repo/../shared}
delay_ms=${DELAY_MS:-10}
requests=${REQUESTS:-300}
pool=${POOL:-8}
idle=${IDLE:-1000}
bytes=${BYTES:-500000000}
base=${BASE:-19600}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
trap 'echo "bench/pool.sh: got SIGTERM" >&2; exit 143' TERM

cp -r "$shared/bench"/. "$work/harness"; chmod -R u+w "$work/harness"; (cd "$work/harness" && ./build.sh >/dev/null)
tpt=${TPT_BINARY:-}
if [ -z "$tpt" ]; then
  dotnet publish "$repo/src/TlsProxyTunnel" -c Release -r linux-x64 -p:PublishAot=true -o "$work/tpt" >&2
  tpt=$work/tpt/tpt
fi

cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 2 \
  -subj "/CN=bench ca" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -x509 -CA ca.crt -CAkey ca.key -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout s.key -out s.crt \
  -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
cat s.crt s.key > s.pem

echo_port=$((base + 1)); https=$((base + 2)); relay=$((base + 3)); tls_echo=$((base + 4))
tpt_port=$((base + 10)); ptw_port=$((base + 20))

# The delay relay: every chunk read is written DELAY_MS later, order kept, per direction; EOF passed on.
cat >relay.py <<'PY'
import asyncio, sys
listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000
async def pump(reader, writer):
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()
    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof(): writer.write_eof()
                return
            writer.write(data); await writer.drain()
    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, data))
            if not data: break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
async def handle(client_reader, client_writer):
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_writer.close(); return
    await asyncio.gather(pump(client_reader, upstream_writer), pump(upstream_reader, client_writer), return_exceptions=True)
    for w in (client_writer, upstream_writer): w.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
    async with server: await server.serve_forever()
asyncio.run(main())
PY

# Time from connect to the first byte of HAProxy's answer, in ms; "pair" runs two clients at once and keeps the later.
cat >latency.py <<'PY'
import socket, sys, threading, time
port, count, gap_ms, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
def one(out):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    first = s.recv(1)
    out.append((time.perf_counter() - t0) * 1000 if first else float("nan"))
    s.close()
samples = []
for _ in range(count):
    if mode == "pair":
        got = []
        threads = [threading.Thread(target=one, args=(got,)) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        samples.append(max(got))
    else:
        got = []; one(got); samples.append(got[0])
    time.sleep(gap_ms / 1000)
samples.sort()
pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
print("p50_ms=%.2f p99_ms=%.2f mean_ms=%.2f n=%d" % (pick(0.5), pick(0.99), sum(samples) / len(samples), len(samples)))
PY

# Sends N bytes while reading the echo (the backend's 8-byte banner first); closes once all are back (ptw does not
# pass half-close on, so waiting for EOF would hang there).
cat >echo_client.py <<'PY'
import socket, sys, threading
port, total = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
def send():
    chunk = bytes(256 * 1024); left = total
    while left > 0:
        n = min(left, len(chunk)); s.sendall(chunk[:n]); left -= n
threading.Thread(target=send, daemon=True).start()
got = 0
while got < total + 8:
    data = s.recv(1 << 20)
    if not data: break
    got += len(data)
s.close(); print(got)
PY

# HAProxy's current TLS connections, from its stats socket.
cat >ssl_conns.py <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show info\n"); data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
print(next(l.split(": ")[1] for l in data.decode().splitlines() if l.startswith("CurrSslConns")))
PY

cat >haproxy.cfg <<CFG
global
  maxconn 8000
  nbthread 1
  stats socket $work/haproxy.sock level admin
defaults
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-request 300s
frontend https
  mode http
  bind 127.0.0.1:$https ssl crt $work/s.pem
  http-request return status 200 content-type text/plain string "hello from the upstream"
frontend tls_echo
  mode tcp
  bind 127.0.0.1:$tls_echo ssl crt $work/s.pem
  default_backend echo
backend echo
  mode tcp
  server e 127.0.0.1:$echo_port
CFG

"$work/harness/bin/backend" -t 3600 "D@127.0.0.1:$echo_port" 2>/dev/null & pids+=($!)
haproxy -db -f haproxy.cfg >haproxy.log 2>&1 & pids+=($!)
python3 relay.py "$relay" "$https" "$delay_ms" 2>/dev/null & pids+=($!)

wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
wait_ssl() { for _ in $(seq 1200); do [ "$(python3 ssl_conns.py "$work/haproxy.sock")" -ge "$1" ] && return 0; sleep 0.05; done; echo "HAProxy never saw $1 TLS connections" >&2; return 1; }
for port in $echo_port $https $relay $tls_echo; do wait_port "$port"; done

tpt_yaml() { # port, upstream port, pool size (0: none)
  local pool=""
  [ "$3" -gt 0 ] && pool="    pool: {size: $3, ttl: 300s, backoff: 5s, wait_timeout: 15s}"
  printf 'version: 2\nlog: warn\nservers:\n  s:\n    listen: ["127.0.0.1:%s"]\n    maxclients: 20000\n    default: hub\nupstream:\n  hub:\n    address: "tcp://localhost:%s"\n    connect_timeout: 4s\n    tls: {ca: %s/ca.crt}\n%s\n' "$1" "$2" "$work" "$pool" >tpt.yaml
}
drain() { for _ in $(seq 400); do [ "$(python3 ssl_conns.py "$work/haproxy.sock")" -eq 0 ] && return 0; sleep 0.05; done; }
run_tpt() { drain; tpt_yaml "$@"; "$tpt" -c tpt.yaml >>tpt.log 2>&1 & router=$!; pids+=($router); wait_port "$1"; }
# ptw with the same settings: -n pool, -T ttl, -B backoff, -W wait, -w connect timeout, -C the same CA.
run_ptw() { # port, upstream port, pool size
  drain
  python3 -c 'import os, sys; os.setpgrp(); sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = "ptw"; from ptw.__main__ import main; main()' \
    "$shared/interop/ptw" -v warn -a 127.0.0.1 -p "$1" -n "$3" -T 300 -B 5 -W 15 -w 4 -C "$work/ca.crt" localhost "$2" >>ptw.log 2>&1 &
  router=$!; pids+=($router); wait_port "$1"
}
# tpt's ptw command line with ptw's flags (the throughput scenario measures "tpt ptw" itself).
run_tpt_ptw() { # port, upstream port, pool size
  drain
  "$tpt" ptw -v warn -a 127.0.0.1 -p "$1" -n "$3" -T 300 -B 5 -W 15 -w 4 -C "$work/ca.crt" localhost "$2" >>tpt.log 2>&1 &
  router=$!; pids+=($router); wait_port "$1"
}
stop() { # a router that already exited is reported; ptw's graceful stop waits for sessions that never end: 5 s, then SIGKILL
  if ! kill "$router" 2>/dev/null; then echo "note: router $router had exited: $(tail -3 ptw.log tpt.log 2>/dev/null | tr '\n' ' ')" >&2; fi
  for _ in $(seq 100); do kill -0 "$router" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$router" 2>/dev/null || true
  wait "$router" 2>/dev/null || true
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

scenarios=${SCENARIOS:-latency idle throughput}
gap=$((delay_ms * 8))
echo "delay_ms=$delay_ms requests=$requests pool=$pool idle=$idle bytes=$bytes"
if [[ " $scenarios " == *" latency "* ]]; then
run_tpt $tpt_port $relay 0;     echo "scenario=latency router=tpt_fresh $(python3 latency.py $tpt_port "$requests" $gap one)"; stop
run_tpt $tpt_port $relay "$pool"; wait_ssl "$pool"
echo "scenario=latency router=tpt_pooled $(python3 latency.py $tpt_port "$requests" $gap one)"; stop
run_ptw $ptw_port $relay "$pool"; wait_ssl "$pool"
echo "scenario=latency router=ptw_pooled $(python3 latency.py $ptw_port "$requests" $gap one)"; stop
run_tpt $tpt_port $relay 1; wait_ssl 1
echo "scenario=latency router=tpt_waiter $(python3 latency.py $tpt_port $((requests / 3)) $gap pair)"; stop
run_ptw $ptw_port $relay 1; wait_ssl 1
echo "scenario=latency router=ptw_waiter $(python3 latency.py $ptw_port $((requests / 3)) $gap pair)"; stop
fi

[[ " $scenarios " == *" idle "* ]] && for router_kind in tpt ptw; do
  for size in 1 "$idle"; do
    if [ $router_kind = tpt ]; then run_tpt $tpt_port $https "$size"; else run_ptw $ptw_port $https "$size"; fi
    wait_ssl "$size"
    eval "rss_${router_kind}_$size=$(rss_kib $router)"
    stop
  done
  one=$(eval echo "\$rss_${router_kind}_1"); many=$(eval echo "\$rss_${router_kind}_$idle")
  echo "scenario=idle router=$router_kind rss_kib_1=$one rss_kib_$idle=$many kib_per_idle_connection=$(echo "scale=1; ($many - $one) / ($idle - 1)" | bc)"
done

[[ " $scenarios " == *" throughput "* ]] && for router_kind in tpt ptw; do
  if [ $router_kind = tpt ]; then run_tpt_ptw $tpt_port $tls_echo "$pool"; port=$tpt_port; else run_ptw $ptw_port $tls_echo "$pool"; port=$ptw_port; fi
  cpu0=$(awk '{print $14 + $15}' "/proc/$router/stat")
  t0=$(date +%s.%N); got=$(python3 echo_client.py "$port" "$bytes"); t1=$(date +%s.%N)
  cpu1=$(awk '{print $14 + $15}' "/proc/$router/stat")
  # CPU-s of the router per GB echoed (each byte crosses it twice: encrypted on the way out, decrypted back).
  echo "scenario=throughput router=$router_kind bytes=$got gbit_s=$(echo "scale=3; $bytes * 8 / 1000000000 / ($t1 - $t0)" | bc) router_cpu_s_per_gb=$(echo "scale=3; ($cpu1 - $cpu0) / $(getconf CLK_TCK) / ($bytes / 1000000000)" | bc)"
  stop
done
