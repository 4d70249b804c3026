#!/usr/bin/env bash
# Coverage-guided fuzzing of tpt's hostile-input parsers: SharpFuzz instruments the assemblies, AFL++ drives them.
#   fuzz/run.sh TARGET SECONDS [afl-fuzz options...]     TARGET: hello | connect | health | config | proxy
#   FUZZ_RESUME=1 fuzz/run.sh TARGET SECONDS              continue the last session of TARGET
#   fuzz/run.sh TARGET replay [FILE|DIR...]              re-run inputs (default: the target's crashes) without AFL
# Needs: apt-get install afl++ ; dotnet tool install --global SharpFuzz.CommandLine
# One AFL instance (one core) per call; different targets may run side by side. Findings land in fuzz/out/findings-TARGET/default/{crashes,hangs}.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:?usage: run.sh hello|connect|health|config|proxy SECONDS|replay}"
seconds="${2:?usage: run.sh TARGET SECONDS}"
shift 2
out="$here/out"
# One build per target, so several targets can be fuzzed at once (build() starts from a clean copy).
bin="$out/bin-$target"
export PATH="$PATH:$HOME/.dotnet/tools"

build() {
  # A fresh copy each time: instrumenting an already instrumented assembly fails.
  rm -rf "$bin"
  dotnet build "$here/TlsProxyTunnel.Fuzz/TlsProxyTunnel.Fuzz.csproj" -c Release -o "$bin" -nologo -v q >/dev/null
  sharpfuzz "$bin/tpt.dll" >/dev/null
  sharpfuzz "$bin/YamlDotNet.dll" >/dev/null
}

if [[ "$seconds" == replay ]]; then
  # Not instrumented: instrumented code writes to AFL's shared memory, which only exists under afl-fuzz.
  replay="$out/replay-$target"
  dotnet build "$here/TlsProxyTunnel.Fuzz/TlsProxyTunnel.Fuzz.csproj" -c Release -o "$replay" -nologo -v q >/dev/null
  inputs=("$@")
  if [[ ${#inputs[@]} -eq 0 ]]; then
    inputs=("$out/findings-$target/default/crashes" "$out/findings-$target/default/hangs")
  fi
  for i in "${inputs[@]}"; do
    for f in $( [[ -d "$i" ]] && find "$i" -type f ! -name README.txt || echo "$i"); do
      echo "== $f"; timeout 20 dotnet "$replay/TlsProxyTunnel.Fuzz.dll" "$target" "$f" || echo "!! finding reproduced ($?)"
    done
  done
  exit 0
fi

command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 1; }
command -v sharpfuzz >/dev/null || { echo "sharpfuzz not found: dotnet tool install --global SharpFuzz.CommandLine" >&2; exit 1; }
build
findings="$out/findings-$target"
input="$here/corpus/$target"
if [[ "${FUZZ_RESUME:-0}" == 1 && -d "$findings/default" ]]; then
  # Go on from the last session (AFL++ keeps the queue and the exec count).
  input=-
else
  rm -rf "$findings"
fi
mkdir -p "$findings"
dict=()
[[ -f "$here/dict/$target.dict" ]] && dict=(-x "$here/dict/$target.dict")
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
# -t: the .NET start-up makes the first run slow; -m none: the runtime reserves a lot of address space.
afl-fuzz -i "$input" -o "$findings" -t 5000 -m none -V "$seconds" "${dict[@]}" "$@" \
  -- dotnet "$bin/TlsProxyTunnel.Fuzz.dll" "$target" >> "$findings/afl.log" 2>&1 || true
stats="$findings/default/fuzzer_stats"
if [[ ! -f "$stats" ]]; then
  echo "afl-fuzz did not start; see $findings/afl.log" >&2
  tail -30 "$findings/afl.log" >&2
  exit 1
fi
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg|stability)' "$stats"
crashes=$(find "$findings/default/crashes" -type f ! -name README.txt 2>/dev/null | wc -l)
hangs=$(find "$findings/default/hangs" -type f 2>/dev/null | wc -l)
echo "target=$target crashes=$crashes hangs=$hangs"
[[ "$crashes" -eq 0 && "$hangs" -eq 0 ]]
