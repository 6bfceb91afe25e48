// The published entry points: CommonJS require and ES-module import of the built lib/.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

interface PackageJson {
  version: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
}

const root = path.resolve(__dirname, '..');

t.test('require() and import both expose the same API', async (t) => {
  const cjs = execFileSync(process.execPath, ['-e', "const g=require('groundinggpt');console.log(JSON.stringify(Object.keys(g).sort()))"], {
    cwd: root,
  }).toString();
  const esm = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', "import * as g from 'groundinggpt';console.log(JSON.stringify(Object.keys(g).filter(k=>k!=='default').sort()))"],
    { cwd: root },
  ).toString();
  const cjsNames = JSON.parse(cjs) as string[];
  t.same(JSON.parse(esm), cjsNames);
  t.ok(cjsNames.includes('InvalidInputError'));
  t.ok(cjsNames.includes('systemInfo'));
});

t.test('the native addon loads and reports its backends', async (t) => {
  const out = execFileSync(process.execPath, ['-e', "console.log(require('groundinggpt').systemInfo())"], { cwd: root }).toString();
  t.match(out, /CPU/);
});

t.test('package.json: engines is what the dependencies accept, platform fields present', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;
  const semver = require('semver') as { subset(sub: string, sup: string): boolean; validRange(r: string): string | null };
  const ours = pkg.engines?.node ?? '';
  t.ok(semver.validRange(ours), `engines.node is a range: ${ours}`);
  // every runtime dependency (installed) accepts every Node version that ours accepts
  const optional = new Set(Object.keys(pkg.optionalDependencies ?? {}));
  for (const name of [...Object.keys(pkg.dependencies ?? {}), ...optional]) {
    const file = path.join(root, 'node_modules', name, 'package.json');
    // an optional dependency whose install failed is absent (ffmpeg-static downloads its binary at
    // install; without network npm drops it): nothing installed, nothing to check
    if (optional.has(name) && !fs.existsSync(file)) {
      t.comment(`${name}: optional, not installed`);
      continue;
    }
    const dep = JSON.parse(fs.readFileSync(file, 'utf8')) as PackageJson;
    const theirs = dep.engines?.node;
    if (theirs) t.ok(semver.subset(ours, theirs), `${name} ${dep.version} (engines ${theirs}) accepts ${ours}`);
  }
  t.ok(semver.subset(ours, '>=20'), 'Node 20 is the oldest supported major (docs/BUILDING.md)');
  t.same(pkg.os, ['linux', 'darwin', 'win32']);
  t.same(pkg.cpu, ['x64', 'arm64']);
  t.notOk('prebuildify' in (pkg.devDependencies ?? {}), 'prebuildify is not used (scripts/prebuild.mjs says why)');
});
