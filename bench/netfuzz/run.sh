#!/usr/bin/env bash
# Runs netfuzz.py against a freshly built Release tpt in front of an asyncio echo backend.
#   bench/netfuzz/run.sh [SECONDS] [WORKERS]       (TPT_ENGINE picks the engine; default auto = linux on Linux)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds=${1:-180}
workers=${2:-16}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
dotnet build "$root/src/TlsProxyTunnel/TlsProxyTunnel.csproj" -c Release -o "$dir/tpt" -nologo -v q >/dev/null
python3 - "$dir/backend.port" <<'PY' &
import asyncio, sys
async def echo(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=1024)
    open(sys.argv[1], "w").write(str(server.sockets[0].getsockname()[1]))
    await server.serve_forever()
asyncio.run(main())
PY
for _ in $(seq 100); do [ -s "$dir/backend.port" ] && break; sleep 0.05; done
cat > "$dir/tpt.yaml" <<YAML
version: 2
log: info
servers:
  fuzz:
    listen: ["127.0.0.1:0"]
    tls: true
    client_hello_timeout: 2s
    maxclients: 5000
    sni:
      a.test: echo_backend
    default: echo_backend
upstream:
  echo_backend: "tcp://127.0.0.1:$(cat "$dir/backend.port")"
YAML
dotnet "$dir/tpt/tpt.dll" -c "$dir/tpt.yaml" 2>"$dir/tpt.err" &
pid=$!
for _ in $(seq 200); do grep -q "Listening: server fuzz" "$dir/tpt.err" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o "Listening: server fuzz on 127.0.0.1:[0-9]*" "$dir/tpt.err" | grep -o "[0-9]*$")
grep -o "engine=[a-z]*" "$dir/tpt.err" | head -1
python3 "$here/netfuzz.py" --port "$port" --pid "$pid" --seconds "$seconds" --workers "$workers"
status=$?
if grep -E " fail:| crit:" "$dir/tpt.err"; then echo "netfuzz: tpt logged errors"; status=1; fi
exit $status
