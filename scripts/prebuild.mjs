#!/usr/bin/env node
// npm run prebuild: the portable prebuilt addon for this platform (or a cross target) in
// prebuilds/<platform>-<arch>/ (docs/BUILDING.md, "Prebuilds and platforms").
//
//   node scripts/prebuild.mjs [--arch arm64] [--jobs N] [--no-check] [--CD<NAME>=<value> ...]
//
// Portable means no -march=native: ggml's CPU backend once per instruction-set level (the set is
// GROUNDINGGPT_CPU_VARIANTS in CMakeLists.txt), ggml and libllama as shared libraries next to the
// addon, libstdc++ linked in, no OpenMP, glibc symbol versions <= 2.28 on x86-64 Linux. The CMake
// tree is build/prebuild-<platform>-<arch> (never build/cmake or build/Release, which local builds
// use). --arch arm64 on x86-64 Linux cross-compiles with Debian's g++-aarch64-linux-gnu.
// The addon is named groundinggpt.napi.glibc.node on Linux: node-gyp-build then refuses it on musl
// (Alpine), where the install builds from source instead. Ends with scripts/check-prebuild.mjs.
//
// Not prebuildify: its 6.x always runs `node-gyp rebuild` (no cmake-js backend) into
// <cwd>/build/Release, the local build's folder, where this script keeps a separate tree per
// target (build/prebuild-<platform>-<arch>) and never touches the local build; it has no
// toolchain-file cross build, and it would still need this script to choose the portable options,
// the CPU variants and the checks. What it would do (strip, copy the .so files next to the addon,
// name the addon by tags) is the dozen lines below.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const platform = process.platform;
const arch = opt('arch') ?? process.arch;
const cross = arch !== process.arch;
const tag = `${platform}-${arch}`;
const out = path.join(root, 'build', `prebuild-${tag}`);
const stage = path.join(out, 'stage');
const dest = path.join(root, 'prebuilds', tag);
const cmakeArgs = argv.filter((a) => a.startsWith('--CD'));

if (cross) {
  if (!(platform === 'linux' && process.arch === 'x64' && arch === 'arm64')) {
    process.stderr.write(`[prebuild] cross builds: only linux x64 -> arm64 (asked ${process.arch} -> ${arch})\n`);
    process.exit(2);
  }
  const toolchain = path.join(out, 'aarch64-linux-gnu.cmake');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    toolchain,
    [
      'set(CMAKE_SYSTEM_NAME Linux)',
      'set(CMAKE_SYSTEM_PROCESSOR aarch64)',
      'set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)',
      'set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)',
      'set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)',
      'set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)',
      'set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)',
      'set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)',
      '',
    ].join('\n'),
  );
  cmakeArgs.push(`--CDCMAKE_TOOLCHAIN_FILE=${toolchain}`);
}

const t0 = Date.now();
fs.rmSync(stage, { recursive: true, force: true });
const jobs = opt('jobs') ?? process.env.GROUNDINGGPT_JOBS;
const r = spawnSync(
  process.execPath,
  [path.join(root, 'scripts', 'build.mjs'), '--portable', '--out', out, '--dest', stage, ...(jobs ? ['--jobs', jobs] : []), ...cmakeArgs],
  { cwd: root, stdio: 'inherit', env: { ...process.env, GROUNDINGGPT_TESTS: '0' } },
);
if (r.status !== 0) process.exit(r.status ?? 1);

// strip and move into prebuilds/<tag>/ (replacing what was there)
const strip = cross ? 'aarch64-linux-gnu-strip' : 'strip';
const addonName = platform === 'linux' ? 'groundinggpt.napi.glibc.node' : 'groundinggpt.napi.node';
fs.rmSync(dest, { recursive: true, force: true });
fs.mkdirSync(dest, { recursive: true });
for (const f of fs.readdirSync(stage)) {
  const to = path.join(dest, f === 'groundinggpt.node' ? addonName : f);
  fs.copyFileSync(path.join(stage, f), to);
  // debug symbols out (macOS strip: -x keeps the global symbols a loader needs)
  if (platform === 'linux') spawnSync(strip, ['--strip-unneeded', to], { stdio: 'inherit' });
  else if (platform === 'darwin') spawnSync('strip', ['-x', to], { stdio: 'inherit' });
}
const files = fs.readdirSync(dest);
const bytes = files.reduce((n, f) => n + fs.statSync(path.join(dest, f)).size, 0);
process.stderr.write(
  `[prebuild] ${path.relative(root, dest)}: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB, ` + `${((Date.now() - t0) / 60000).toFixed(1)} min\n`,
);
if (!argv.includes('--no-check') && platform === 'linux') {
  const c = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-prebuild.mjs'), dest], { stdio: 'inherit' });
  process.exit(c.status ?? 1);
}
