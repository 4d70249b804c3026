#!/usr/bin/env bash
# Runs the shared SNI-router harness (../shared/bench, read-only) from a temporary copy, with tpt added as
# its "custom" router, published as Native AOT (the launched binary is measured, not `dotnet run`).
#
#   bench/compare.sh                          # every router x connrate/throughput/idle, 3 rounds (compare.sh)
#   bench/compare.sh run.sh custom verify     # any harness script and arguments
#
# Needs: apt-get install haproxy nginx libnginx-mod-stream sniproxy gcc clang zlib1g-dev
# GC: workstation, non-concurrent (TlsProxyTunnel.csproj); inline socket completions (Program.cs).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_BENCH:-$repo/../shared/bench}
work=${BENCH_WORKDIR:-$(mktemp -d)}
cp -r "$shared"/. "$work"/
chmod -R u+w "$work"
dotnet publish "$repo/src/TlsProxyTunnel" -c Release -r linux-x64 -p:PublishAot=true -o "$work/tpt" >&2
export CUSTOM_CMD="$work/tpt/tpt -c {config}" CUSTOM_NAME=tpt CUSTOM_CONFIG_TEMPLATE=peers/tpt.yaml.in
cd "$work"
echo "harness copy: $work" >&2
if [ $# -eq 0 ]; then set -- compare.sh; fi
script=$1; shift
"./$script" "$@"
