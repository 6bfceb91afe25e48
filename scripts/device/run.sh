#!/usr/bin/env bash
# GPU check on the workplace's device machine (root, no network, no Node): unpacks .devcarry (made
# here by scripts/device/pack.sh), builds the addon and the C++ tests with -DGROUNDINGGPT_CUDA=ON,
# then runs the C++ tests (towers on CUDA0 against the golden outputs) and scripts/device/check.mjs
# (the full model on the GPU, then the same checks on the CPU backend of the CUDA build).
# Logs go to $OUT. Call it with `.devcarry` and `lib` carried. GROUNDINGGPT_CUDA=OFF tries the script
# itself on a machine without CUDA (the GPU checks then fail as they should).
set -uo pipefail
cd "$(dirname "$0")/../.."
C=.devcarry
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
t0=$(date +%s); stamp() { echo "== [$(( $(date +%s) - t0 ))s] $*"; }
fail=0; step() { local name=$1; shift; stamp "$name"; if ! "$@" > "$OUT/$name.log" 2>&1; then fail=1; echo "FAILED: $name"; fi; tail -${TAIL:-6} "$OUT/$name.log"; }

nvidia-smi -L; nvcc --version | tail -2; nproc
mkdir -p /tmp/node/bin && xz -dc $C/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node && export PATH=/tmp/node/bin:$PATH
node --version
[ -f deps/llama.cpp/CMakeLists.txt ] || { mkdir -p deps && tar -C deps -xJf $C/llama.tar.xz; }
[ -d node_modules/sharp ] || tar -xJf $C/modules.tar.xz
mkdir -p /tmp/g && tar -C /tmp/g -xJf $C/golden.tar.xz

stamp configure
cmake -S . -B build/cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DGROUNDINGGPT_CUDA="${GROUNDINGGPT_CUDA:-ON}" -DGROUNDINGGPT_TESTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90-real}" -DCMAKE_JS_VERSION=device -DCMAKE_JS_INC="$PWD/$C/node-include" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
grep -i "cuda" "$OUT/configure.log" | head -5
stamp build
if ! ninja -C build/cuda groundinggpt test_encoders test_vocab test_preprocess llm_gguf_load > "$OUT/build.log" 2>&1; then
  grep -m5 -A12 "error" "$OUT/build.log"; tail -20 "$OUT/build.log"; exit 1
fi
tail -2 "$OUT/build.log"
B=build/cuda
step test_preprocess $B/test_preprocess
step test_vocab $B/test_vocab $C/tiny/llm.gguf
TAIL=30 step compare_gpu $B/test_encoders $C/tiny/encoders.gguf /tmp/g/golden/expected --compare-gpu
# Strict: GGML_CUDA_NO_TF32 (patches/ggml-cuda-no-tf32.patch) keeps f32 matmuls in f32, so the GPU
# must meet the manifest's own tolerances, like the CPU.
TAIL=24 step test_encoders_f32 env GGML_CUDA_NO_TF32=1 $B/test_encoders $C/tiny/encoders.gguf /tmp/g/golden/expected 1 --bad-files
TAIL=45 step check_gpu_f32 env GGML_CUDA_NO_TF32=1 GROUNDINGGPT_ADDON=$B/groundinggpt.node node scripts/device/check.mjs /tmp/g/golden $C
# (a CUDA build offloads large CPU-side LLM matmuls to the GPU too)
TAIL=3 step check_cpu_f32 env GGML_CUDA_NO_TF32=1 GROUNDINGGPT_ADDON=$B/groundinggpt.node node scripts/device/check.mjs /tmp/g/golden $C --cpu
# Default: ggml-cuda runs f32 matmuls as TF32 (10-bit mantissa, ~5e-4 relative per product). The
# same checks with the tolerances x TF32_SCALE (50); greedy ids must still be identical.
TF32_SCALE=${TF32_SCALE:-50}
TAIL=12 step test_encoders_tf32 $B/test_encoders $C/tiny/encoders.gguf /tmp/g/golden/expected $TF32_SCALE
TAIL=12 step check_gpu_tf32 env GROUNDINGGPT_ADDON=$B/groundinggpt.node node scripts/device/check.mjs /tmp/g/golden $C --tol-scale $TF32_SCALE
step llm_gguf_load $B/llm_gguf_load $C/tiny/llm.gguf
# memcheck of the tower kernels, when the time left allows (the device call is limited to 10 min)
if command -v compute-sanitizer >/dev/null && [ -z "${NO_SANITIZER:-}" ] && [ $(( $(date +%s) - t0 )) -lt 300 ]; then
  TAIL=8 step sanitizer env GGML_CUDA_NO_TF32=1 timeout 150 compute-sanitizer --tool memcheck --leak-check no $B/test_encoders $C/tiny/encoders.gguf /tmp/g/golden/expected 1
fi
stamp "done: $([ $fail = 0 ] && echo PASSED || echo FAILED)"
exit $fail
