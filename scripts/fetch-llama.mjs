#!/usr/bin/env node
// Fetches the pinned llama.cpp source (ggml + libllama) into deps/llama.cpp.
//
// The source arrives through the npm registry: node-llama-cpp@3.21.1 ships the llama.cpp
// release it was built against as `llama/gitRelease.bundle`, a git bundle. We download that
// tarball with `npm pack` (no install scripts run), check it against the pinned integrity,
// extract only the bundle, clone it, check the commit and tree ids, and apply patches/*.patch.
// Nothing from it is committed: deps/ is ignored. Re-running is a no-op once the stamp matches.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PIN = {
  pkg: 'node-llama-cpp@3.21.1',
  tarball: 'node-llama-cpp-3.21.1.tgz',
  // sha512 of the npm tarball, as the registry publishes it
  integrity: 'sha512-E3N0Ev2Va0wzydvXYFwM9Hvyo07PoWjt8T/9GMc43Cvt8YkV/NU/tYUgEMC1grTPv2o9PRjQi0G3Wb5P/awiMg==',
  bundleSha256: '9336d8aab8f8e6a8919380f3641fe92e57b02fb55df1b6bd083b82491a6293b8',
  commit: '80fb11ac73e66d89eae2c6a91d8a77428fa733ed',
  tree: '0424752fbbc3bb01469ec830a30f2bc035497cd4',
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// deps/ of the checkout; an installed package's build passes a folder in the user's cache instead
// (scripts/build.mjs, docs/BUILDING.md "From source").
let deps = path.join(root, 'deps');
let dest = path.join(deps, 'llama.cpp');
const patchDir = path.join(root, 'patches');

function log(msg) {
  process.stderr.write(`[fetch-llama] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts })
    .toString()
    .trim();
}

function fileHash(file, algo, encoding) {
  return createHash(algo).update(fs.readFileSync(file)).digest(encoding);
}

function patches() {
  if (!fs.existsSync(patchDir)) return [];
  return fs
    .readdirSync(patchDir)
    .filter((f) => f.endsWith('.patch'))
    .sort();
}

export function stampText() {
  const h = createHash('sha256');
  h.update(PIN.commit);
  for (const p of patches()) h.update(p).update(fs.readFileSync(path.join(patchDir, p)));
  return h.digest('hex');
}

export function llamaDir() {
  return dest;
}

export function fetchLlama(depsDir) {
  if (depsDir) {
    deps = path.resolve(depsDir);
    dest = path.join(deps, 'llama.cpp');
  }
  const stampFile = path.join(dest, '.groundinggpt-stamp');
  const want = stampText();
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === want) return dest;

  fs.mkdirSync(deps, { recursive: true });
  const tgz = path.join(deps, PIN.tarball);
  const haveTarball = fs.existsSync(tgz) && `sha512-${fileHash(tgz, 'sha512', 'base64')}` === PIN.integrity;
  if (!haveTarball) {
    log(`npm pack ${PIN.pkg}`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    run(npm, ['pack', PIN.pkg, '--pack-destination', deps, '--silent'], { shell: process.platform === 'win32' });
  }
  const got = `sha512-${fileHash(tgz, 'sha512', 'base64')}`;
  if (got !== PIN.integrity) {
    fs.rmSync(tgz, { force: true });
    throw new Error(`integrity mismatch for ${PIN.tarball}: expected ${PIN.integrity}, got ${got}`);
  }

  const unpack = path.join(deps, 'unpack');
  fs.rmSync(unpack, { recursive: true, force: true });
  fs.mkdirSync(unpack, { recursive: true });
  run('tar', ['-xzf', tgz, '-C', unpack, 'package/llama/gitRelease.bundle']);
  const bundle = path.join(unpack, 'package', 'llama', 'gitRelease.bundle');
  const bundleHash = fileHash(bundle, 'sha256', 'hex');
  if (bundleHash !== PIN.bundleSha256) throw new Error(`gitRelease.bundle sha256 mismatch: ${bundleHash}`);

  const tmp = `${dest}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`git clone ${PIN.commit.slice(0, 12)}`);
  run('git', ['clone', '--quiet', '--no-checkout', bundle, tmp]);
  run('git', ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', PIN.commit], { cwd: tmp });
  const tree = run('git', ['rev-parse', 'HEAD^{tree}'], { cwd: tmp });
  if (tree !== PIN.tree) throw new Error(`llama.cpp tree mismatch: ${tree}`);
  for (const p of patches()) {
    log(`apply ${p}`);
    run('git', ['apply', '--whitespace=nowarn', path.join(patchDir, p)], { cwd: tmp });
  }
  fs.writeFileSync(path.join(tmp, '.groundinggpt-stamp'), want);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.renameSync(tmp, dest);
  fs.rmSync(unpack, { recursive: true, force: true });
  log(`ready: ${path.relative(root, dest)}`);
  return dest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    fetchLlama();
  } catch (err) {
    log(`error: ${err.message}`);
    process.exit(1);
  }
}
