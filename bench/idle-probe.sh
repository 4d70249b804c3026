#!/usr/bin/env bash
# Where the memory of idle routed connections goes: opens N idle routed connections (the shared harness's
# loadgen and backend) through a tpt binary and reads, while they are held, RSS and the managed heap
# (/metrics: dotnet_gc_heap_size_bytes, dotnet_gc_committed_bytes) before and after.
#   BENCH=/tmp/bw TPT=/tmp/bw/tpt/tpt TPT_ENGINE=linux bench/idle-probe.sh [N]
# BENCH is a built copy of ../shared/bench (bench/compare.sh leaves one in BENCH_WORKDIR).
set -euo pipefail
n=${1:-5000}
bench=${BENCH:?a built copy of ../shared/bench}
tpt=${TPT:?the tpt binary}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pa=$(free_port); pl=$(free_port); pm=$(free_port)
"$bench/bin/backend" -t 120 -s "$dir/stats" "A@127.0.0.1:$pa" 2>/dev/null &
cat > "$dir/tpt.yaml" <<YAML
version: 2
log: warn
servers:
  bench:
    listen: ["127.0.0.1:$pl"]
    tls: true
    default: a
    maxclients: 20000
  health:
    listen: ["127.0.0.1:$pm"]
    default: health
upstream:
  a: "tcp://127.0.0.1:$pa"
YAML
"$tpt" -c "$dir/tpt.yaml" 2>"$dir/tpt.err" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$pm/health" >/dev/null 2>&1 && break; sleep 0.05; done
sample() {
  local m; m=$(curl -fs "http://127.0.0.1:$pm/metrics")
  echo "$(awk '/VmRSS/ {print $2}' /proc/$pid/status) $(echo "$m" | awk '/^dotnet_gc_heap_size_bytes/ {print $2}') $(echo "$m" | awk '/^dotnet_gc_committed_bytes/ {print $2}') $(echo "$m" | awk '/^dotnet_gc_allocated_bytes_total/ {print $2}')"
}
read -r rss0 heap0 comm0 alloc0 < <(sample)
"$bench/bin/loadgen" --mode idle --port "$pl" -c "$n" --settle 1 --hold 8 --ramp 256 --expect A >"$dir/lg.out" 2>&1 &
lg=$!
sleep 6
read -r rss1 heap1 comm1 alloc1 < <(sample)
wait $lg || true
awk -v n="$n" -v r0="$rss0" -v r1="$rss1" -v h0="$heap0" -v h1="$heap1" -v c0="$comm0" -v c1="$comm1" -v a0="$alloc0" -v a1="$alloc1" 'BEGIN {
  printf "engine=%s conns=%d rss_kib_per_conn=%.2f heap_b_per_conn=%.0f committed_b_per_conn=%.0f allocated_b_per_conn=%.0f\n", ENVIRON["TPT_ENGINE"], n, (r1-r0)/n, (h1-h0)/n, (c1-c0)/n, (a1-a0)/n }'
grep -o "conns_ok=[0-9]*\|status=[a-z]*" "$dir/lg.out" | tr '\n' ' '; echo
