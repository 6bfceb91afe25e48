#!/usr/bin/env node
// npm run prebuild: portable prebuilt addon for this platform in prebuilds/<platform>-<arch>/,
// through prebuildify (which drives node-gyp -> binding.gyp -> scripts/build.mjs). Portable means
// no -march=native: see CMakeLists.txt (GROUNDINGGPT_PORTABLE) for the CPU baseline.
// Extra arguments go to prebuildify (e.g. --arch arm64).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(path.dirname(fileURLToPath(import.meta.resolve('prebuildify/package.json'))), 'bin.js');
const env = { ...process.env, GROUNDINGGPT_PORTABLE: '1' };
// N-API: one binary per platform/arch serves every Node and Electron version.
const r = spawnSync(process.execPath, [bin, '--napi', '--strip', '--target', process.versions.node, ...process.argv.slice(2)], {
  cwd: root,
  env,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
