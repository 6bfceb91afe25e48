#!/usr/bin/env bash
# Lint and format checks of both languages (run by .ci/run):
#   - Biome (biome.json): lint + format of the TypeScript and JavaScript (src, test, scripts, bench, examples)
#   - clang-format (.clang-format): format of native/ (C and C++)
#   - madge: no import cycle in src/
#   - typedoc: the API reference builds from the doc comments without a warning (npm run docs:api
#     writes it to build/api)
#   - no source file over 500 lines without a reason near its top ("Over 500 lines: ...")
#
#   scripts/lint.sh          check (exit 1 on any finding)
#   scripts/lint.sh --fix    format in place (Biome's safe fixes, clang-format -i), then check
# Needs clang-format (Debian: apt-get install clang-format; version 14 is what CI uses).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = --fix ] && fix=1
fail=0
cxx=$(git ls-files 'native/*.cpp' 'native/*.h' 'native/*.c')

if [ $fix = 1 ]; then
  npx biome check --write . || true
  clang-format -i $cxx
fi

echo "== biome (lint + format)"
npx biome ci --reporter=summary . || fail=1

echo "== clang-format"
if command -v clang-format >/dev/null; then
  clang-format --dry-run --Werror $cxx || fail=1
else
  echo "clang-format not found (apt-get install clang-format)"; fail=1
fi

echo "== import cycles (madge)"
npx madge --circular --extensions ts --ts-config tsconfig.json src || fail=1

echo "== API reference from the doc comments (typedoc.json; warnings are errors)"
npx typedoc --emit none || fail=1

echo "== files over 500 lines state why"
for f in $(git ls-files 'src/*.ts' 'test/*.ts' 'native/*.cpp' 'native/*.h' 'scripts/*.mjs' 'bench/*.mjs'); do
  n=$(wc -l < "$f")
  if [ "$n" -gt 500 ] && ! head -20 "$f" | grep -q 'Over 500 lines'; then
    echo "$f: $n lines and no 'Over 500 lines: <reason>' near its top"; fail=1
  fi
done

[ $fail = 0 ] && echo "lint: clean"
exit $fail
