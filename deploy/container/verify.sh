#!/usr/bin/env bash
# Builds and starts the container image's contents without a Docker engine (none runs in CI):
#   1. copies the build stage's COPY sources into a temporary directory (bin/ and obj/ left out, as
#      .dockerignore does) and runs the build stage's RUN commands there with /bin/sh, the Dockerfile's
#      ARG defaults and TARGETARCH of this machine -- the same dotnet restore/publish the image runs;
#   2. takes the binary the final stage copies, and runs it as the image would: no arguments, an empty
#      environment, TPT_CONFIG pointing at container-files/etc/tpt/config.yaml (listen ports rewritten
#      to 0 so that nothing fixed is bound on this machine);
#   3. checks `tpt check` with and without the proxy variables, /health, /ready and /metrics on the
#      health listener (IPv4 and IPv6), and a clean exit 0 on SIGTERM.
# The static checks (COPY sources, USER, ENTRYPOINT, EXPOSE) are ContainerImageTests in the test suite;
# this is separate because the publish alone takes about a minute. .ci/run runs it after the tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tpt-verify.XXXXXX")
tpt_pid=
cleanup() {
  if [ -n "$tpt_pid" ] && kill -0 "$tpt_pid" 2>/dev/null; then kill -KILL "$tpt_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "verify: FAIL: $*" >&2; exit 1; }
ctx=$work/src

# The Dockerfile as one instruction per line (continuations joined, comments dropped), with its stage.
instructions() {
  awk '
    /^[[:space:]]*#/ { next }
    /^[[:space:]]*$/ && line == "" { next }
    {
      sub(/[[:space:]]+$/, "")
      if (sub(/\\$/, "")) { line = line $0 " "; next }
      line = line $0
      if (toupper(line) ~ /^FROM /) { stage = (match(line, /[Aa][Ss] [^ ]+$/) ? substr(line, RSTART + 3) : "") }
      print stage "\t" line
      line = ""
    }' "$root/Dockerfile"
}

case "$(uname -m)" in
  x86_64) export TARGETARCH=amd64 ;;
  aarch64 | arm64) export TARGETARCH=arm64 ;;
  *) fail "no .NET runtime identifier for $(uname -m)" ;;
esac

# 1. The build stage.
mkdir -p "$ctx"
workdir=
start=$(date +%s)
while IFS=$'\t' read -r stage line; do
  [ "$stage" = build ] || continue
  keyword=${line%% *}
  args=${line#* }
  case "${keyword^^}" in
    FROM) ;;
    ARG)
      # "ARG NAME" (set by the builder, like TARGETARCH) or "ARG NAME=default"; eval strips the quotes.
      if [[ "$args" == *=* ]]; then eval "export $args"; fi ;;
    WORKDIR) workdir=$args ;;
    COPY)
      read -r -a words <<<"$args"
      dest=${words[-1]}
      unset 'words[-1]'
      mkdir -p "$ctx/$dest"
      for source in "${words[@]}"; do
        [ -e "$root/$source" ] || fail "COPY source $source does not exist"
        if [ -d "$root/$source" ]; then
          tar -C "$root/$source" --exclude=bin --exclude=obj -cf - . | tar -C "$ctx/$dest" -xf -
        else
          cp "$root/$source" "$ctx/$dest"
        fi
      done ;;
    RUN)
      echo "verify: RUN $args"
      (cd "$ctx" && /bin/sh -c "$args") || fail "RUN $args" ;;
    *) fail "the build stage has ${keyword}, which this script does not emulate" ;;
  esac
done < <(instructions)
echo "verify: build stage (restore + publish) took $(( $(date +%s) - start )) s"

# 2. The binary the final stage copies from the build stage, e.g. COPY --from=build /src/out/tpt /app/tpt.
from=$(instructions | awk -F'\t' 'toupper($2) ~ /^COPY --FROM=BUILD / { split($2, w, " "); print w[3] }' | tail -n 1)
[ -n "$from" ] || fail "the final stage copies nothing from the build stage"
bin=$ctx/${from#"$workdir"/}
[ -x "$bin" ] || fail "$from (the published binary) is missing: $bin"
ls -l "$bin"

config=$work/config.yaml
sed -E 's/("(0\.0\.0\.0|\[::\]):)[0-9]+"/\10"/g' "$root/container-files/etc/tpt/config.yaml" >"$config"
grep -q ':0"' "$config" || fail "no listen address rewritten in $config"

# 3. As the image runs it: empty environment, configuration from TPT_CONFIG.
env -i "$bin" --version
env -i TPT_CONFIG="$config" "$bin" check >/dev/null || fail "tpt check without environment"
env -i TPT_CONFIG="$config" HTTP_PROXY_HOST=proxy.corp.example PROXY_AUTH="Basic dXNlcjpwYXNz" "$bin" check >"$work/check.out" \
  || fail "tpt check with HTTP_PROXY_HOST and PROXY_AUTH"
if grep -q dXNlcjpwYXNz "$work/check.out"; then fail "tpt check printed PROXY_AUTH"; fi

expected=$(grep -oE '"(0\.0\.0\.0|\[::\]):0"' "$config" | wc -l)
coproc TPT { exec env -i TPT_CONFIG="$config" TPT_LOG=info "$bin" 2>&1; }
tpt_pid=$TPT_PID
exec {out}<&"${TPT[0]}"
health_v4= health_v6= seen=0 deadline=$((SECONDS + 30))
while [ "$seen" -lt "$expected" ]; do
  [ $SECONDS -lt $deadline ] || fail "tpt did not bind $expected listeners in 30 s"
  IFS= read -r -t 30 -u "$out" logline || fail "tpt exited or stalled before binding its listeners"
  echo "tpt: $logline"
  if [[ "$logline" =~ Listening:\ server\ ([^ ]+)\ on\ ([^ ]+)\ \( ]]; then
    seen=$((seen + 1))
    if [ "${BASH_REMATCH[1]}" = health ]; then
      # Bound on every address; probe it through loopback, as the kubelet or docker's port mapping would.
      case "${BASH_REMATCH[2]}" in
        \[::\]:*) health_v6="[::1]:${BASH_REMATCH[2]##*:}" ;;
        0.0.0.0:*) health_v4="127.0.0.1:${BASH_REMATCH[2]##*:}" ;;
      esac
    fi
  fi
done
[ -n "$health_v4" ] && [ -n "$health_v6" ] || fail "no health listener in the log"
for address in "$health_v4" "$health_v6"; do
  for path in /health /ready /metrics; do
    status=$(curl -sS --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' "http://$address$path") || fail "curl $address$path"
    echo "verify: GET http://$address$path -> $status"
    [ "$status" = 200 ] || fail "GET $path on $address answered $status"
  done
done

kill -TERM "$tpt_pid"
while IFS= read -r -t 30 -u "$out" logline; do echo "tpt: $logline"; done
status=0
wait "$tpt_pid" || status=$?
tpt_pid=
[ "$status" = 0 ] || fail "tpt exited with $status after SIGTERM"
echo "verify: OK (publish as the Dockerfile does, start on container-files/, probes answer, clean SIGTERM)"
