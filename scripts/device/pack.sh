#!/usr/bin/env bash
# Packs what a GPU check needs into .devcarry/ (git-ignored through .git/info/exclude), for the
# workplace's device machine: no network there, no Node, no ffmpeg. Run here, after a normal build
# (`GROUNDINGGPT_TESTS=1 npm run compile`), then on the device: `bash scripts/device/run.sh`
# with `.devcarry` and `lib` carried. What it holds:
#   llama.tar.xz    the pinned, patched llama.cpp (deps/llama.cpp) minus docs, models, tools, tests
#   node.xz         this machine's node binary (statically linked against libnode)
#   node-include/   the four Node-API headers the addon compiles against
#   modules.tar.xz  node-addon-api and sharp with its prebuilt libvips (no other dependency is needed)
#   golden.tar.xz   ../shared/golden expected arrays and media
#   tiny/           the tiny golden model converted to f32 GGUF (as test/helpers/converted.ts makes it)
#   dog_audio.json + .f32  dog_audio.wav decoded by ffmpeg here (the device has no ffmpeg)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=.devcarry
golden="${GOLDEN_DIR:-$root/../shared/golden}"
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.devcarry/' >> .git/info/exclude; }
rm -rf "$out" && mkdir -p "$out/node-include" "$out/tiny"

tar -C deps -cf - --exclude=.git --exclude=llama.cpp/models --exclude=llama.cpp/docs --exclude=llama.cpp/tools \
  --exclude=llama.cpp/examples --exclude=llama.cpp/tests --exclude=llama.cpp/benches --exclude=llama.cpp/media \
  --exclude=llama.cpp/gguf-py --exclude=llama.cpp/app --exclude=llama.cpp/pocs llama.cpp | xz -T0 -6 > "$out/llama.tar.xz"
xz -T0 -6 -c "$(command -v node)" > "$out/node.xz"
nodeinc="$(dirname "$(dirname "$(command -v node)")")/include/node"
cp "$nodeinc"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} "$out/node-include/"
tar -cf - node_modules/node-addon-api node_modules/sharp node_modules/@img node_modules/detect-libc node_modules/semver \
  | xz -T0 -6 > "$out/modules.tar.xz"
tar -C "$golden/.." -cf - golden/expected golden/media | xz -T0 -6 > "$out/golden.tar.xz"
node scripts/device/prepare.mjs "$golden" "$out"
du -sh "$out" "$out"/*
