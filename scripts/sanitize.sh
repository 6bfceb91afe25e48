#!/usr/bin/env bash
# ASan + UBSan run of the native code (docs/RELIABILITY.md "Sanitizers"): builds ggml, libllama,
# our core, the addon and the C++ tests with -fsanitize=address,undefined in build/asan
# (`node scripts/build.mjs --sanitize address,undefined --tests`; CC/CXX pick the compiler, default
# clang), or with --tree fuzz adds them to the clang tree of scripts/fuzz.sh (build/fuzz, already
# instrumented, which saves a second full build of ggml and libllama), then runs under the sanitizers
#   (a) the C++ tests of native/tests (as test/native.test.ts runs them),
#   (b) the golden checks (test/full, encoders, preprocess-*),
#   (c) the bad-input tests (test/errors, lifecycle, hardening-*, llm-file-checks, attack*),
# the tap tests in Node with the ASan runtime preloaded and GROUNDINGGPT_ADDON pointing at the
# sanitized addon, and GROUNDINGGPT_SANITIZED=1 (tests that bound memory read it: ASan's allocator
# keeps freed memory in its quarantine). Every sanitizer report goes to a file under <tree>/reports
# (also those of child processes whose output tap keeps); the run fails when any test fails or any
# report exists. ggml must use OpenMP as in the release build (clang: Debian libomp-14-dev): its own
# spin barriers make more threads than cores take minutes (docs/RELIABILITY.md "Sanitizers").
#
#   scripts/sanitize.sh [--tree asan|fuzz] [--jobs N] [--skip-build] [--only a|b|c] [extra test files...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${GROUNDINGGPT_JOBS:-$(nproc)} build=1 only="" extra=() tree=asan
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --tree) tree=$2; shift 2 ;;
    --skip-build) build=0; shift ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "sanitize.sh: unknown option $1" >&2; exit 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
start=$(date +%s)
stamp() { echo "== [sanitize $(( $(date +%s) - start ))s] $*"; }
case "$tree" in
  asan)
    out=$root/build/asan addon=$root/build/asan/Release/groundinggpt.node
    if [ $build = 1 ]; then
      stamp "build: node scripts/build.mjs --sanitize address,undefined --tests --out build/asan --jobs $jobs (CC=${CC:-clang})"
      CC=${CC:-clang} CXX=${CXX:-clang++} node scripts/build.mjs --sanitize address,undefined --tests --out build/asan --jobs "$jobs"
    fi ;;
  fuzz)
    out=$root/build/fuzz addon=$root/build/fuzz/groundinggpt.node
    if [ $build = 1 ]; then
      stamp "build: the addon and C++ tests in build/fuzz (scripts/fuzz.sh --build-only first)"
      scripts/fuzz.sh --build-only --jobs "$jobs"
      # the addon target exists when CMAKE_JS_* name Node's headers (what cmake-js would pass);
      # plain cmake keeps the tree's flags, so ggml and libllama are not rebuilt
      cmake -S . -B "$out" -DGROUNDINGGPT_TESTS=ON -DCMAKE_JS_VERSION="$(node -p "require('cmake-js/package.json').version")" \
        -DCMAKE_JS_INC="$(node -p "require('path').resolve(process.execPath, '../../include/node')")" >/dev/null
      cmake --build "$out" --parallel "$jobs" --target groundinggpt test_preprocess test_vocab test_encoders
    fi ;;
  *) echo "sanitize.sh: --tree asan|fuzz" >&2; exit 2 ;;
esac
[ -f "$addon" ] || { echo "sanitize.sh: $addon missing (build failed?)" >&2; exit 1; }
# the runtime Node must preload: the one of the compiler that built the tree
if grep -q '^CMAKE_CXX_COMPILER:.*clang' "$out/CMakeCache.txt"; then
  preload=$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)
else
  preload=$(gcc -print-file-name=libasan.so)
fi
[ -f lib/cli.js ] || npm run compile:ts >/dev/null

reports=$out/reports
rm -rf "$reports"; mkdir -p "$reports"
supp=$root/scripts/sanitize-lsan.supp
# halt_on_error: the first report ends the process (a test then fails too); log_path: one report
# file per process, so reports of children whose output tap swallows are kept.
asan_common="halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan"
# third-party idioms UBSan flags, each with its reason: scripts/sanitize-ubsan.supp
ubsan_opts="print_stacktrace=1:halt_on_error=1:suppressions=$root/scripts/sanitize-ubsan.supp:log_path=$reports/ubsan"
failed=()

# ggml's threading: OpenMP, as in the release build. Without it (clang finds no libomp) ggml
# synchronises with spin barriers, which take minutes when threads outnumber cores.
sysinfo=$(LD_PRELOAD="$preload" ASAN_OPTIONS="$asan_common:detect_leaks=0" UBSAN_OPTIONS="$ubsan_opts" \
  node -e 'process.stdout.write(require(process.argv[1]).systemInfo())' "$addon" 2>&1 || true)
case "$sysinfo" in
  *"OPENMP = 1"*) stamp "addon: ggml with OpenMP (as the release build)" ;;
  *) echo "sanitize.sh: WARNING: the addon's ggml has no OpenMP (systemInfo: $sysinfo); with clang install" \
       "libomp-14-dev and rebuild: ggml's spin barriers make the 64-thread attack case run past its timeout" >&2 ;;
esac

# ---- (a) C++ tests: own executables, leak checking on
if [ -z "$only" ] || [ "$only" = a ]; then
  stamp "(a) C++ tests (native/tests) under ASan+UBSan, leaks checked"
  tiny=$out/tiny-f32
  if [ ! -f "$tiny/encoders.gguf" ]; then
    node lib/cli.js convert --model ../shared/golden/tiny/groundinggpt --clip ../shared/golden/tiny/clip \
      --out "$tiny" --type f32 >/dev/null
  fi
  for c in "test_preprocess" "test_vocab $tiny/llm.gguf" \
           "test_encoders $tiny/encoders.gguf $root/../shared/golden/expected 1 --bad-files"; do
    set -- $c
    name=$1; shift
    if ASAN_OPTIONS="$asan_common:detect_leaks=1" LSAN_OPTIONS="suppressions=$supp" UBSAN_OPTIONS="$ubsan_opts" \
        "$out/$name" "$@" >"$out/$name.log" 2>&1; then
      echo "  ok   $name ($(tail -1 "$out/$name.log"))"
    else
      echo "  FAIL $name (exit $?; see $out/$name.log)"; tail -20 "$out/$name.log"; failed+=("$name")
    fi
  done
fi

# ---- (b), (c): tap tests in Node with the runtime preloaded (leaks off: Node and V8 keep memory at exit)
run_tap() {
  local label=$1; shift
  local files=()
  for f in "$@"; do [ -f "$f" ] && files+=("$f"); done
  stamp "$label: ${files[*]}"
  if env LD_PRELOAD="$preload" ASAN_OPTIONS="$asan_common:detect_leaks=0" \
      UBSAN_OPTIONS="$ubsan_opts" GROUNDINGGPT_ADDON="$addon" GROUNDINGGPT_SANITIZED=1 \
      npx tap --timeout=1800 --reporter=tap --disable-coverage "${files[@]}" >"$out/tap-$label.log" 2>&1; then
    echo "  ok   $label ($(grep -cE '^ *ok ' "$out/tap-$label.log") ok lines, $(grep -cE '^ *not ok ' "$out/tap-$label.log") not ok)"
  else
    echo "  FAIL $label (see $out/tap-$label.log)"; grep -E '^ *not ok ' "$out/tap-$label.log" | head -20; failed+=("$label")
  fi
}
shopt -s nullglob
if [ -z "$only" ] || [ "$only" = b ]; then
  run_tap golden test/full.test.ts test/encoders.test.ts test/preprocess-*.test.ts
fi
if [ -z "$only" ] || [ "$only" = c ]; then
  run_tap bad-input test/errors.test.ts test/lifecycle.test.ts test/hardening-*.test.ts test/llm-file-checks.test.ts \
    test/attack*.test.ts
fi
if [ ${#extra[@]} -gt 0 ]; then run_tap extra "${extra[@]}"; fi

n_reports=$(ls "$reports" | wc -l)
if [ "$n_reports" -gt 0 ]; then
  echo "sanitizer reports ($n_reports) in $reports:"
  for f in "$reports"/*; do echo "--- $f"; head -40 "$f"; done
  failed+=("reports")
fi
stamp "done: $([ ${#failed[@]} -eq 0 ] && echo "PASS (no sanitizer reports)" || echo "FAILED: ${failed[*]}")"
[ ${#failed[@]} -eq 0 ]
