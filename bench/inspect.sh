#!/usr/bin/env bash
# Inspection (issue #15): the cost of capture on the intercepting TLS path, and capture throughput.
#   tls_plain    client -TLS-> tpt (terminate_tls cert) -TLS-> origin tpt (terminate -> echo): no capture
#   tls_capture  the same, with terminate_tls.mint, capture to tmpfs and an 'o' uppercase filter off
#   plain_capture  client -> tpt (capture to tmpfs) -> echo: capture MB/s of traffic (both directions counted)
# Figures: Gbit/s of echoed payload (sent once, received once) and CPU-s of the intercepting tpt per GB sent.
# Indicative: the client is one Python process on the same two cores.
#
#   bench/inspect.sh                 # publishes tpt as Native AOT first; TPT_BINARY=path skips that
#   ROUNDS=3 MB=1000 bench/inspect.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
mb=${MB:-1000}
work=$(mktemp -d)
shm=$(mktemp -d -p /dev/shm)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work" "$shm"; }
trap cleanup EXIT

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

cat >client.py <<'PY'
import socket, ssl, sys, threading
port, total, ca, tls = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "tls"
s = socket.create_connection(("127.0.0.1", port))
if tls:
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
def send():
    chunk = bytes(256 * 1024); left = total
    while left > 0:
        n = min(left, len(chunk)); s.sendall(chunk[:n]); left -= n
threading.Thread(target=send, daemon=True).start()
got = 0
while got < total:
    data = s.recv(1 << 20)
    if not data: break
    got += len(data)
s.close()
print(got)
PY

cat >origin.yaml <<EOF2
version: 2
log: warn
servers:
  origin:
    listen: ["127.0.0.1:19501"]
    terminate_tls: {cert: s.crt, key: s.key}
    default: echo
EOF2
common() { # $1 = name, $2 = extra server lines
cat >"$1.yaml" <<EOF2
version: 2
log: warn
servers:
  front:
    listen: ["127.0.0.1:19502"]
$2
    default: origin
  plainfront:
    listen: ["127.0.0.1:19503"]
$3
    default: echo
upstream:
  origin:
    address: "tcp://127.0.0.1:19501"
    tls: {server_name: from_client, verify: none}
EOF2
}
common tls_plain "    terminate_tls: {cert: s.crt, key: s.key}" ""
common tls_capture "    terminate_tls: {mint: {ca_cert: ca.crt, ca_key: ca.key}}
    capture: {path: $shm/tls.log}" "    capture: {path: $shm/plain.log}"

"$tpt" -c origin.yaml 2>/dev/null & pids+=($!)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
bytes=$((mb * 1000 * 1000))
run() { # config, port, mode -> "gbit cpu_s_per_gb"
  "$tpt" -c "$1.yaml" 2>/dev/null & local pid=$!; pids+=($pid)
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null && break; sleep 0.1; done
  python3 client.py "$2" 1000 ca.crt "$3" >/dev/null   # warm-up (and the first minting)
  local c0 t0 c1 t1
  c0=$(cpu $pid); t0=$(date +%s.%N)
  python3 client.py "$2" "$bytes" ca.crt "$3" >/dev/null
  t1=$(date +%s.%N); c1=$(cpu $pid)
  kill $pid; wait $pid 2>/dev/null || true
  awk -v b="$bytes" -v t="$(echo "$t1 - $t0" | bc)" -v c="$(( c1 - c0 ))" -v hz="$hz" \
    'BEGIN { printf "%.2f Gbit/s  %.2f CPU-s/GB  %.0f MB/s\n", b * 8 / t / 1e9, c / hz / (b / 1e9), 2 * b / t / 1e6 }'
  rm -f "$shm"/*.log
}
for r in $(seq "$rounds"); do
  echo "round $r tls_plain     $(run tls_plain 19502 tls)"
  echo "round $r tls_capture   $(run tls_capture 19502 tls)"
  echo "round $r plain_capture $(run tls_capture 19503 plain)"
done
