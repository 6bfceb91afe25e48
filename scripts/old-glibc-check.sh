#!/usr/bin/env bash
# Runs the prebuilds on an older glibc than the build machine's (docs/BUILDING.md, "Prebuilds and
# platforms"): Debian 11's glibc 2.31, libgcc_s and libstdc++ (fetched with apt-get download into
# private apt folders, unpacked under ~/.cache/groundinggpt/glibc-bullseye-<arch>; nothing is
# installed on the system). 2.31 is older than 2.34, where the pthread and dl functions moved into
# libc, and than 2.33 (stat), so it exercises every redirect of native/compat/glibc_compat.c.
#   linux-x64:   this machine's node, started by Debian 11's ld.so with its libraries;
#   linux-arm64: scripts/arm64-check.sh with QEMU_LD_PREFIX set to Debian 11's arm64 root.
# Each runs scripts/prebuild-smoke.mjs (the tiny golden model's greedy tokens).
#   scripts/old-glibc-check.sh [x64|arm64 ...]   (default: the prebuilds/ folders present)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/groundinggpt

# fetch Debian 11's libc6, libgcc-s1, libstdc++6 for a Debian architecture; prints the root folder
fetch() {
  local deb_arch=$1 dir="$cache/glibc-bullseye-$1"
  if [[ ! -e $dir/root/usr/lib/${2}-linux-gnu/libc.so.6 && ! -e $dir/root/lib/${2}-linux-gnu/libc.so.6 ]]; then
    mkdir -p "$dir/lists/partial" "$dir/cache" "$dir/debs"
    echo "deb [arch=$deb_arch] http://deb.debian.org/debian bullseye main" >"$dir/sources.list"
    : >"$dir/status"
    local apt=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
      -o "Dir::State::Lists=$dir/lists" -o "Dir::State::status=$dir/status" -o "Dir::Cache=$dir/cache"
      -o "APT::Architecture=$deb_arch" -o "APT::Architectures::=$deb_arch" -o APT::Sandbox::User=root)
    apt-get "${apt[@]}" -qq update >&2
    (cd "$dir/debs" && apt-get "${apt[@]}" -qq download "libc6:$deb_arch" "libgcc-s1:$deb_arch" "libstdc++6:$deb_arch" >&2)
    rm -rf "$dir/root" && mkdir -p "$dir/root"
    for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
  fi
  echo "$dir/root"
}

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for a in x64 arm64; do [[ -d prebuilds/linux-$a ]] && targets+=("$a"); done
fi
tiny=$(mktemp -d /tmp/ggpt-oldglibc.XXXXXX)
trap 'rm -rf "$tiny"' EXIT
node -e "require('./lib/convert/index.js').convert({ model: '../shared/golden/tiny/groundinggpt', clip: '../shared/golden/tiny/clip', out: process.argv[1], type: 'f32' })" "$tiny" >/dev/null
status=0
for a in "${targets[@]}"; do
  case $a in
  x64)
    r=$(fetch amd64 x86_64)
    lib="$r/lib/x86_64-linux-gnu:$r/usr/lib/x86_64-linux-gnu"
    ld=$(find "$r" -name 'ld-2.*.so' -path '*x86_64-linux-gnu*' | head -1)
    echo "linux-x64 on $("$ld" --library-path "$lib" "$(command -v node)" -p 'process.version + " glibc " + process.report.getReport().header.glibcVersionRuntime')"
    "$ld" --library-path "$lib" "$(command -v node)" scripts/prebuild-smoke.mjs --addon prebuilds/linux-x64/groundinggpt.napi.glibc.node --llm "$tiny/llm.gguf" || status=1
    ;;
  arm64)
    r=$(fetch arm64 aarch64)
    echo "linux-arm64 on Debian 11's glibc (QEMU_LD_PREFIX=$r)"
    QEMU_LD_PREFIX=$r bash scripts/arm64-check.sh || status=1
    ;;
  *) echo "old-glibc-check: x64 or arm64, not $a" >&2 && exit 2 ;;
  esac
done
exit $status
