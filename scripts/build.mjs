#!/usr/bin/env node
// Builds the native addon: fetches the pinned llama.cpp (scripts/fetch-llama.mjs), then runs
// cmake-js on CMakeLists.txt and puts the result where node-gyp-build looks for it
// (build/Release/groundinggpt.node). Every build flag lives in CMakeLists.txt; this script only
// maps switches to its options.
//
//   node scripts/build.mjs [--cuda] [--portable] [--debug] [--tests] [--out <dir>] [--jobs N]
//                          [--configure-only] [--sanitize address,undefined] [--dest <dir>]
//   env: GROUNDINGGPT_CUDA=1, GROUNDINGGPT_PORTABLE=1, GROUNDINGGPT_TESTS=1 (same as the flags), GROUNDINGGPT_JOBS,
//        GROUNDINGGPT_SANITIZE=address,undefined (same as --sanitize)
//
// --sanitize builds everything with those sanitizers in its own tree (default build/asan) and
// leaves the addon there (<out>/Release/groundinggpt.node, loaded through GROUNDINGGPT_ADDON), not
// in build/Release: scripts/sanitize.sh, docs/RELIABILITY.md.
//
// The CMake tree lives in build/cmake (or --out); `npm run compile` re-runs it incrementally.
// The addon (and, when portable, its libraries) is copied to build/Release, or to --dest
// (scripts/prebuild.mjs stages prebuilds there without touching build/Release).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchLlama, PIN, stampText } from './fetch-llama.mjs';
import { cacheRoot } from './node-binary.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (name, env) => argv.includes(`--${name}`) || (env && /^(1|on|true|yes)$/i.test(process.env[env] ?? ''));
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

const cuda = flag('cuda', 'GROUNDINGGPT_CUDA');
const portable = flag('portable', 'GROUNDINGGPT_PORTABLE');
const debug = flag('debug');
const tests = flag('tests', 'GROUNDINGGPT_TESTS');
const configureOnly = flag('configure-only');
const sanitize = opt('sanitize') ?? process.env.GROUNDINGGPT_SANITIZE ?? '';
if (sanitize && !/^[a-z-]+(,[a-z-]+)*$/.test(sanitize)) {
  process.stderr.write(`[build] --sanitize takes a comma-separated list like address,undefined (got "${sanitize}")\n`);
  process.exit(2);
}
const defaultOut = sanitize ? 'asan' : portable ? 'cmake-portable' : 'cmake';
// An installed package (inside node_modules) or GROUNDINGGPT_CACHE_DIR: the llama.cpp source and
// the CMake tree go to the user's cache folder (GROUNDINGGPT_CACHE_DIR, else the OS cache dir
// /groundinggpt), shared by installs and projects; only the addon stays in the package
// (docs/BUILDING.md, "From source"). A checkout keeps deps/ and build/ as before.
const inCache = root.split(path.sep).includes('node_modules') || Boolean(process.env.GROUNDINGGPT_CACHE_DIR);
const cacheDir = inCache ? cacheRoot() : undefined;
const depsDir = cacheDir ? path.join(cacheDir, `llama.cpp-${PIN.commit.slice(0, 12)}-${stampText().slice(0, 12)}`) : undefined;
const treeName = `${defaultOut}-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
const out = path.resolve(root, opt('out') ?? (cacheDir ? path.join(cacheDir, 'build', treeName) : path.join('build', defaultOut)));
const jobs = Number(opt('jobs') ?? process.env.GROUNDINGGPT_JOBS ?? os.availableParallelism?.() ?? os.cpus().length);
const config = debug ? 'Debug' : 'Release';

const llamaSrc = fetchLlama(depsDir);

const cmakeJs = path.join(path.dirname(fileURLToPath(import.meta.resolve('cmake-js/package.json'))), 'bin', 'cmake-js');
const options = {
  GROUNDINGGPT_CUDA: cuda ? 'ON' : 'OFF',
  GROUNDINGGPT_PORTABLE: portable ? 'ON' : 'OFF',
  GROUNDINGGPT_TESTS: tests ? 'ON' : 'OFF',
};
// cmake-js passes -D options only when it configures a fresh tree: when an existing tree was
// configured with other switches, configure it again.
const cache = path.join(out, 'CMakeCache.txt');
// GROUNDINGGPT_SANITIZE is a string option: OFF when not asked (trees made before it existed lack it).
const sanitizeValue = sanitize || 'OFF';
const cachedSanitize = (text) => /^GROUNDINGGPT_SANITIZE:[A-Z]+=(.*)$/m.exec(text)?.[1] ?? 'OFF';
const stale =
  fs.existsSync(cache) &&
  (Object.entries(options).some(([k, v]) => !new RegExp(`^${k}:BOOL=${v}$`, 'm').test(fs.readFileSync(cache, 'utf8'))) ||
    cachedSanitize(fs.readFileSync(cache, 'utf8')) !== sanitizeValue);
const command = configureOnly ? 'configure' : 'compile';
const args = [
  cmakeJs,
  command,
  '--out',
  out,
  '--config',
  config,
  '--parallel',
  String(jobs),
  '--log-level',
  'warn',
  ...Object.entries(options).map(([k, v]) => `--CD${k}=${v}`),
  ...(depsDir ? [`--CDGROUNDINGGPT_LLAMA_DIR=${llamaSrc}`] : []),
  `--CDGROUNDINGGPT_SANITIZE=${sanitizeValue}`,
  // other CMake definitions pass through (scripts/prebuild.mjs: toolchain file, CPU variants)
  ...argv.filter((a) => a.startsWith('--CD')),
];
process.stderr.write(
  `[build] cmake-js ${config}${cuda ? ' +CUDA' : ''}${portable ? ' portable' : ' native'}${sanitize ? ` -fsanitize=${sanitize}` : ''} -j${jobs} in ${path.relative(root, out)}\n`,
);
// Node-API headers: cmake-js downloads them unless npm_config_nodedir names an installation that
// has them. Point it at the running Node's own headers when they are installed (offline builds).
const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
}
if (stale && !configureOnly) {
  // configure in place (keeps the objects that are still valid), then build
  const c = spawnSync(process.execPath, [args[0], 'configure', ...args.slice(2)], { cwd: root, stdio: 'inherit', env });
  if (c.status !== 0) process.exit(c.status ?? 1);
}
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
if (r.status !== 0) process.exit(r.status ?? 1);
if (configureOnly) process.exit(0);

const built = path.join(out, config, 'groundinggpt.node');
if (!fs.existsSync(built)) {
  process.stderr.write(`[build] expected ${built} was not produced\n`);
  process.exit(1);
}
// A sanitizer build's addon needs its runtime preloaded: it stays in its tree (GROUNDINGGPT_ADDON).
if (sanitize) {
  process.stderr.write(`[build] sanitizer addon: ${path.relative(root, built)} (not copied to build/${config})\n`);
  process.exit(0);
}
const dest = opt('dest') ? path.resolve(root, opt('dest')) : path.join(root, 'build', config);
fs.mkdirSync(dest, { recursive: true });
const tmp = path.join(dest, `.groundinggpt.node.${process.pid}`);
fs.copyFileSync(built, tmp);
fs.renameSync(tmp, path.join(dest, 'groundinggpt.node'));
// Portable builds ship ggml/libllama as shared libraries and the CPU variants as modules next to
// the addon (scripts/prebuild.mjs copies that folder into prebuilds/). llama.cpp
// puts them in <out>/bin; we copy each library under the name the loader asks for (its soname),
// not the development links or fully versioned names.
if (portable) {
  for (const dir of [path.join(out, config), path.join(out, 'bin')]) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) {
      const full = path.join(dir, f);
      const link = fs.lstatSync(full).isSymbolicLink();
      const wanted =
        (/^libggml-(?!unshipped-).*\.so$/.test(f) && !link) || // backend modules (CPU variants, RPC)
        /\.so\.\d+$/.test(f) || // sonames (libllama.so.0)
        (/\.(dylib|dll)$/.test(f) && !link);
      if (wanted) fs.copyFileSync(full, path.join(dest, f));
    }
  }
}
