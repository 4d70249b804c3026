#!/usr/bin/env bash
# TLS that the router speaks itself (issue #11), tpt beside HAProxy on this machine, same certificate (ECDSA
# P-256, TLS 1.3), same echo backend (the shared harness's), both routers single-threaded:
#   handshake   router CPU ms per terminated handshake (openssl s_time -new, 5 s)
#   handshake_data  the same with a client that uses its connection (Python: handshake, 1 byte each way, close)
#   terminate   1 GB through terminate -> plain: router CPU-s per GB, Gbit/s (a Python TLS client -> router -> echo)
#   originate   1 GB through plain -> originate: router CPU-s per GB, Gbit/s (nc -> router -> HAProxy TLS server -> echo)
# Indicative: the clients are single-threaded openssl/python/nc processes on the same two cores, so compare the
# routers' CPU, not absolute rates.
#
#   bench/tls.sh                 # publishes tpt as Native AOT first; TPT_BINARY=path skips that
#   ROUNDS=5 BASE=21000 bench/tls.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_BENCH:-$repo/../shared/bench}
rounds=${ROUNDS:-3}
base=${BASE:-19400}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cp -r "$shared"/. "$work/harness"; chmod -R u+w "$work/harness"; (cd "$work/harness" && ./build.sh >/dev/null)
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
# Sends N bytes over TLS while reading the echo (the backend's 8-byte banner first), closes once all are back.
cat >tls_echo_client.py <<'PY'
import socket, ssl, sys, threading
port, total, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tls = ssl.create_default_context(cafile=ca).wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
def send():
    chunk = bytes(256 * 1024)
    left = total
    while left > 0:
        n = min(left, len(chunk)); tls.sendall(chunk[:n]); left -= n
threading.Thread(target=send, daemon=True).start()
got = 0
while got < total + 8:
    data = tls.recv(1 << 20)
    if not data: break
    got += len(data)
tls.close()
print(got)
PY
# New TLS 1.3 sessions for N seconds, each sending a byte and reading the banner and its echo before closing,
# as real clients do (s_time closes before the server's session tickets are out). Prints the count.
cat >tls_handshake_client.py <<'PY'
import socket, ssl, sys, time
port, seconds, ca = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
n, end = 0, time.time() + seconds
while time.time() < end:
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    tls.sendall(b"x")
    got = b""
    while len(got) < 9:
        data = tls.recv(64)
        if not data: break
        got += data
    tls.close()
    n += 1
print(n)
PY
echo_port=$((base + 1)); tls_server=$((base + 2))
hap_term=$((base + 10)); tpt_term=$((base + 11)); hap_orig=$((base + 20)); tpt_orig=$((base + 21))

haproxy_cfg() { # name, frontend lines, backend server line
  printf 'global\n  maxconn 5000\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nfrontend f\n  %s\n  default_backend b\nbackend b\n  %s\n' "$2" "$3" >"$1"
}
haproxy_cfg tls-server.cfg "bind 127.0.0.1:$tls_server ssl crt $work/s.pem" "server s 127.0.0.1:$echo_port"
haproxy_cfg hap-term.cfg "bind 127.0.0.1:$hap_term ssl crt $work/s.pem" "server s 127.0.0.1:$echo_port"
haproxy_cfg hap-orig.cfg "bind 127.0.0.1:$hap_orig" "server s 127.0.0.1:$tls_server ssl verify required ca-file $work/ca.crt sni str(localhost)"
cat >tpt.yaml <<YAML
version: 2
log: warn
servers:
  term:
    listen: ["127.0.0.1:$tpt_term"]
    maxclients: 5000
    terminate_tls: {cert: $work/s.crt, key: $work/s.key}
    default: echo_backend
  orig:
    listen: ["127.0.0.1:$tpt_orig"]
    maxclients: 5000
    default: tls_server
upstream:
  echo_backend: "tcp://127.0.0.1:$echo_port"
  tls_server:
    address: "tcp://localhost:$tls_server"
    tls: {ca: $work/ca.crt}
YAML

"$work/harness/bin/backend" -t 3600 "D@127.0.0.1:$echo_port" 2>/dev/null & pids+=($!)
for cfg in tls-server hap-term hap-orig; do haproxy -db -f "$cfg.cfg" >"$cfg.log" 2>&1 & pids+=($!); eval "pid_$(echo $cfg | tr - _)=$!"; done
"$tpt" -c tpt.yaml >tpt.log 2>&1 & pids+=($!); pid_tpt=$!
for port in $echo_port $tls_server $hap_term $hap_orig $tpt_term $tpt_orig; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
secs() { echo "scale=3; ($2 - $1) / $tck" | bc; }
gb=1000000000

for round in $(seq "$rounds"); do
  for router in haproxy tpt; do
    if [ $router = tpt ]; then pid=$pid_tpt; term=$tpt_term; orig=$tpt_orig; else pid=$pid_hap_term; term=$hap_term; orig=$hap_orig; fi

    c0=$(cpu "$pid")
    n=$(openssl s_time -connect "127.0.0.1:$term" -new -time 5 2>/dev/null | awk '/real seconds/ {print $1}')
    c1=$(cpu "$pid")
    echo "round=$round router=$router scenario=handshake conns=$n router_cpu_ms_per_handshake=$(echo "scale=3; ($c1 - $c0) * 1000 / $tck / $n" | bc)"

    c0=$(cpu "$pid")
    n=$(python3 "$work/tls_handshake_client.py" "$term" 5 "$work/ca.crt")
    c1=$(cpu "$pid")
    echo "round=$round router=$router scenario=handshake_data conns=$n router_cpu_ms_per_handshake=$(echo "scale=3; ($c1 - $c0) * 1000 / $tck / $n" | bc)"

    c0=$(cpu "$pid"); t0=$(date +%s.%N)
    got=$(python3 "$work/tls_echo_client.py" "$term" $gb "$work/ca.crt")
    t1=$(date +%s.%N); c1=$(cpu "$pid")
    echo "round=$round router=$router scenario=terminate bytes=$got router_cpu_s_per_gb=$(secs "$c0" "$c1") gbit_s=$(echo "scale=2; 8 / ($t1 - $t0)" | bc)"

    [ $router = haproxy ] && pid=$pid_hap_orig
    c0=$(cpu "$pid"); t0=$(date +%s.%N)
    got=$(head -c $gb /dev/zero | nc -N 127.0.0.1 "$orig" | wc -c)
    t1=$(date +%s.%N); c1=$(cpu "$pid")
    echo "round=$round router=$router scenario=originate bytes=$got router_cpu_s_per_gb=$(secs "$c0" "$c1") gbit_s=$(echo "scale=2; 8 / ($t1 - $t0)" | bc)"
  done
done
