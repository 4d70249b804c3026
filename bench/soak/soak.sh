#!/usr/bin/env bash
# Soak tpt: hold 5 000 routed connections and churn new ones (mixed sizes, half-closes, every byte verified)
# for N minutes through a freshly built Release tpt, then check descriptors and memory are back to baseline.
#   bench/soak/soak.sh [MINUTES] [extra options: --hold N --workers N --max-payload BYTES]
# Loopback only; stops by itself. Exit 0 = SOAK PASSED.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
minutes="${1:-10}"
shift || true
out="$here/out"
# Each side holds ~2 descriptors per held connection; raise the soft limit as far as the hard one allows.
hard=$(ulimit -Hn)
if [[ "$hard" == unlimited || "$hard" -gt 65536 ]]; then hard=65536; fi
ulimit -n "$hard"
dotnet build "$root/src/TlsProxyTunnel/TlsProxyTunnel.csproj" -c Release -o "$out/tpt" -nologo -v q >/dev/null
dotnet build "$here/TlsProxyTunnel.Soak.csproj" -c Release -o "$out/soak" -nologo -v q >/dev/null
exec dotnet "$out/soak/TlsProxyTunnel.Soak.dll" --tpt "$out/tpt/tpt.dll" --minutes "$minutes" "$@"
