#!/usr/bin/env bash
# libFuzzer runs of the native core (docs/RELIABILITY.md "Fuzzing"): builds the targets of
# native/fuzz with clang (-fsanitize=fuzzer,address,undefined; ggml and libllama instrumented too)
# in build/fuzz, writes seed corpora from the golden data (native/fuzz/seeds.mjs), runs each
# target for the given time and prints execs, coverage (cov/ft) and crashes.
#
#   scripts/fuzz.sh [--time SECONDS] [--parallel N] [--jobs N] [--out DIR (default build/fuzz)] [--timeout S] [target...]
#   scripts/fuzz.sh --smoke          # every target 45 s (the CI candidate), regressions first
#   scripts/fuzz.sh --regressions    # only run every target over native/fuzz/regressions/<target>
#   scripts/fuzz.sh --build-only
#   --strict: do not suppress the known findings of native/fuzz/known-findings.supp
#   --timeout S: libFuzzer's per-input timeout (default 20). It is wall-clock time: on a shared
#     machine, at low priority, raise it (an input that ran 1 s alone was starved past 20 s)
#
# Targets: fuzz_encoders_load fuzz_llm_check fuzz_image_preprocess fuzz_audio_preprocess (default all).
# Needs clang and its compiler-rt (Debian: clang libclang-rt-14-dev), ninja or make, node and
# ffmpeg (seeds); with libomp-14-dev ggml uses OpenMP as the release build does (scripts/sanitize.sh
# --tree fuzz wants that). Crash inputs land in build/fuzz/artifacts/<target>/; minimise one with
#   build/fuzz/fuzz/<target> -minimize_crash=1 -runs=10000 <file>
# and commit it under native/fuzz/regressions/<target>/ once fixed. Exit status 1 on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ALL=(); for f in native/fuzz/fuzz_*.cpp; do ALL+=("$(basename "$f" .cpp)"); done
time_s=60 timeout_s=20 parallel=1 jobs=${GROUNDINGGPT_JOBS:-$(nproc)} mode=run targets=() strict=0 out_arg=build/fuzz
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_s=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --out) out_arg=$2; shift 2 ;;
    --smoke) time_s=45; mode=smoke; shift ;;
    --regressions) mode=regressions; shift ;;
    --build-only) mode=build; shift ;;
    --strict) strict=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
mkdir -p "$out_arg"; out=$(cd "$out_arg" && pwd)
start=$(date +%s)
stamp() { echo "== [fuzz $(( $(date +%s) - start ))s] $*"; }

# ---- build
stamp "build (clang, -fsanitize=fuzzer-no-link,address,undefined) in build/fuzz, -j$jobs"
[ -f deps/llama.cpp/CMakeLists.txt ] || node scripts/fetch-llama.mjs
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
if [ ! -f "$out/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$out" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGROUNDINGGPT_FUZZ=ON >/dev/null
fi
cmake --build "$out" --parallel "$jobs" --target "${targets[@]}"
stamp "built ${targets[*]}"
[ "$mode" = build ] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:symbolize=1}
# third-party idioms UBSan flags (scripts/sanitize-ubsan.supp, each with its reason) and, unless
# --strict, the real findings already reported and not fixed yet (native/fuzz/known-findings.supp)
# so that a run goes on past them; the regressions replay always runs strict
supp=$out/ubsan.supp
cat scripts/sanitize-ubsan.supp > "$supp"
[ "$strict" = 1 ] || cat native/fuzz/known-findings.supp >> "$supp"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$supp}

# ---- regressions: every committed crasher must run clean
failed=0
run_regressions() {
  for t in "${targets[@]}"; do
    local dir=native/fuzz/regressions/$t
    [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] || continue
    if UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$root/scripts/sanitize-ubsan.supp" \
        "$out/fuzz/$t" -runs=1 "$dir"/* >"$out/regressions-$t.log" 2>&1; then
      echo "regressions $t: $(ls "$dir" | wc -l) inputs pass"
    else
      echo "regressions $t: FAILED (see $out/regressions-$t.log)"
      grep -m3 -E 'runtime error|ERROR: [A-Za-z]+Sanitizer|SUMMARY' "$out/regressions-$t.log" | sed 's/^/    /'; failed=1
    fi
  done
}
run_regressions
[ "$mode" = regressions ] && exit $failed

# ---- seeds from the golden data: the tiny model converted by our converter + the golden media
seeds=$out/seeds
if [ ! -f "$seeds/.done" ]; then
  stamp "seed corpora (tiny golden model converted, golden media via ffmpeg)"
  [ -f lib/cli.js ] || npm run compile:ts >/dev/null
  tiny=$out/tiny
  if [ ! -f "$tiny/encoders.gguf" ]; then
    node lib/cli.js convert --model ../shared/golden/tiny/groundinggpt --clip ../shared/golden/tiny/clip \
      --out "$tiny" --type q8_0 >/dev/null 2>&1
  fi
  rm -rf "$seeds"
  node native/fuzz/seeds.mjs "$seeds" --encoders "$tiny/encoders.gguf" --llm "$tiny/llm.gguf" \
    --media ../shared/golden/media
  touch "$seeds/.done"
fi

# ---- runs
fuzz_one() {
  local t=$1 corpus=$out/corpus/$1 art=$out/artifacts/$1/ log=$out/$1.log
  mkdir -p "$corpus" "$art"
  # failures: crash-, leak-, timeout-, oom- files; slow-unit- files (> 10 s) are only counted
  local bad='^(crash|leak|timeout|oom)-'
  local before slow0; before=$(ls "$art" | grep -cE "$bad" || true); slow0=$(ls "$art" | grep -c '^slow-unit-' || true)
  local rc=0 t0; t0=$(date +%s)
  "$out/fuzz/$t" "$corpus" "$seeds/$t" -max_total_time="$time_s" -timeout="$timeout_s" -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$art" -close_fd_mask=1 >"$log" 2>&1 || rc=$?
  local ran=$(( $(date +%s) - t0 )) execs eps cov crashes slow
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  crashes=$(( $(ls "$art" | grep -cE "$bad" || true) - before ))
  slow=$(( $(ls "$art" | grep -c '^slow-unit-' || true) - slow0 ))
  printf '%-24s %5ss of %ss  execs %-9s exec/s %-6s %-22s crashes %s  slow units %s  corpus %s%s\n' "$t" "$ran" "$time_s" \
    "$execs" "$eps" "${cov:-cov: ?}" "$crashes" "$slow" "$(ls "$corpus" | wc -l)" "$([ $rc -ne 0 ] && echo "  rc=$rc (see $log)")"
  [ $rc -eq 0 ] && [ $crashes -eq 0 ]
}
stamp "fuzzing ${targets[*]}: ${time_s}s each, $parallel at a time"
pids=()
for t in "${targets[@]}"; do
  fuzz_one "$t" & pids+=($!)
  if [ ${#pids[@]} -ge "$parallel" ]; then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
stamp "done ($([ $failed -eq 0 ] && echo 'no crashes' || echo 'CRASHES or failures: see above'))"
exit $failed
