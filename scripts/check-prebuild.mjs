#!/usr/bin/env node
// Checks a Linux prebuild folder (docs/BUILDING.md, "Prebuilds and platforms") with readelf, which
// reads ELF files of any architecture:
//   - glibc: the highest GLIBC_x.y version any file needs is <= --max-glibc (default 2.28 on
//     x86-64 and aarch64, Node 20's own floor; on other machines it is reported, and checked only
//     when given);
//   - NEEDED libraries: only glibc's (libc, libm, libdl, libpthread, librt, ld-linux), libgcc_s and
//     the folder's own libraries: no libgomp, no libstdc++ (no GLIBCXX_/CXXABI_ versions either);
//   - the addon (*.node) exports only the Node-API entry points.
//
//   node scripts/check-prebuild.mjs [dir] [--max-glibc 2.28] [--json]
//
// Exit status 0 when every check passes; 1 with the failures listed otherwise.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const NAPI_EXPORTS = ['napi_register_module_v1', 'node_api_module_get_api_version_v1'];
const SYSTEM_LIBS = /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|ld-linux[-\w.]*\.so\.\d)$/;

const cmpVersion = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

const readelf = (args, file) => execFileSync('readelf', ['-W', ...args, file], { encoding: 'utf8', maxBuffer: 256 << 20 });

/** Dynamic symbols of an ELF file: { name, version, defined } (readelf --dyn-syms). */
function dynSyms(file) {
  const syms = [];
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    // Num: Value Size Type Bind Vis Ndx Name
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\S+\s+(\w+)\s+(\w+)\s+(\w+)\s+(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, type, bind, , ndx, full] = m;
    const [name, version = ''] = full.split(/@+/);
    syms.push({ name, version: version.replace(/\s*\(\d+\)$/, ''), type, bind, defined: ndx !== 'UND' });
  }
  return syms;
}

/** Checks every ELF file of dir; returns { files: [...], failures: [...] }. */
export function checkPrebuild(dir, { maxGlibc } = {}) {
  const failures = [];
  const files = [];
  const names = fs.readdirSync(dir).filter((f) => /\.node$|\.so(\.\d+)*$/.test(f));
  if (!names.some((f) => f.endsWith('.node'))) failures.push(`${dir}: no .node file`);
  const own = new Set(names);
  let machine = '';
  for (const f of names) {
    const file = path.join(dir, f);
    const header = readelf(['-h'], file);
    machine = /Machine:\s+(.*)/.exec(header)?.[1].trim() ?? machine;
    const needed = [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    const syms = dynSyms(file);
    const glibc = syms
      .filter((s) => !s.defined && s.version.startsWith('GLIBC_'))
      .map((s) => ({ name: s.name, v: s.version.slice(6) }))
      .filter((s) => /^\d+(\.\d+)*$/.test(s.v));
    const top = glibc.reduce((a, s) => (cmpVersion(s.v, a) > 0 ? s.v : a), '0');
    const newest = glibc.filter((s) => s.v === top).map((s) => s.name);
    const exported = syms.filter((s) => s.defined && s.bind !== 'LOCAL' && s.type !== 'SECTION').map((s) => s.name);
    files.push({ file: f, machine, needed, maxGlibc: top, newestGlibcSymbols: [...new Set(newest)], exported: exported.length });

    for (const n of needed) {
      if (!SYSTEM_LIBS.test(n) && !own.has(n)) failures.push(`${f}: needs ${n} (not glibc, libgcc_s or this folder)`);
    }
    const cxx = syms.filter((s) => /^(GLIBCXX|CXXABI)_/.test(s.version) && !s.defined);
    if (cxx.length) failures.push(`${f}: needs libstdc++ symbols (${cxx[0].name}@${cxx[0].version}, ${cxx.length} in all)`);
    const gomp = syms.filter((s) => /^(GOMP|OMP)_/.test(s.version) && !s.defined);
    if (gomp.length) failures.push(`${f}: needs libgomp symbols (${gomp[0].name}@${gomp[0].version})`);
    if (maxGlibc && cmpVersion(top, maxGlibc) > 0) {
      failures.push(`${f}: needs GLIBC_${top} > ${maxGlibc} (${[...new Set(newest)].join(', ')})`);
    }
    if (f.endsWith('.node')) {
      const extra = exported.filter((n) => !NAPI_EXPORTS.includes(n));
      if (extra.length) failures.push(`${f}: exports ${extra.length} symbols besides the Node-API entry (${extra.slice(0, 5).join(', ')}, ...)`);
      if (!exported.includes('napi_register_module_v1')) failures.push(`${f}: does not export napi_register_module_v1`);
    }
  }
  return { dir, machine, files, failures };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--max-glibc');
  const dir = path.resolve(argv.find((a, j) => !a.startsWith('--') && argv[j - 1] !== '--max-glibc') ?? path.join(root, 'prebuilds', `linux-${process.arch}`));
  if (!fs.existsSync(dir)) {
    process.stderr.write(`[check-prebuild] ${dir} does not exist: run \`npm run prebuild\` first\n`);
    process.exit(2);
  }
  // (no .node file: checkPrebuild reports it; readelf on the folder itself would throw)
  const addon = fs.readdirSync(dir).find((f) => f.endsWith('.node'));
  const machine = addon ? (/Machine:\s+(.*)/.exec(readelf(['-h'], path.join(dir, addon)))?.[1] ?? '') : '';
  const maxGlibc = i >= 0 ? argv[i + 1] : /X86-64|AArch64/.test(machine) ? '2.28' : undefined;
  const res = checkPrebuild(dir, { maxGlibc });
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ ...res, maxGlibcAllowed: maxGlibc ?? null }, null, 2)}\n`);
  else {
    for (const f of res.files) {
      process.stdout.write(`${f.file.padEnd(34)} GLIBC_${f.maxGlibc.padEnd(5)} exports ${String(f.exported).padStart(5)}  needs ${f.needed.join(' ')}\n`);
    }
    const top = res.files.reduce((a, f) => (cmpVersion(f.maxGlibc, a) > 0 ? f.maxGlibc : a), '0');
    process.stdout.write(`${res.machine}: highest GLIBC_${top}${maxGlibc ? ` (allowed ${maxGlibc})` : ' (not checked)'}\n`);
    for (const x of res.failures) process.stdout.write(`FAIL ${x}\n`);
    process.stdout.write(res.failures.length ? `${res.failures.length} failure(s)\n` : 'ok\n');
  }
  process.exit(res.failures.length ? 1 : 0);
}
