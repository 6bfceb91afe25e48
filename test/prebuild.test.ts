// The portable Linux prebuild (docs/BUILDING.md, "Prebuilds and platforms"): readelf checks of
// prebuilds/linux-<arch> (glibc <= 2.28 on x86-64, no libgomp/libstdc++, only the Node-API entry
// exported), the tiny golden model's greedy tokens through it, and node-gyp-build's choice of it
// (glibc yes, musl no). Runs when `npm run prebuild` has made the folder; skips otherwise.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const addon = path.join(dir, 'groundinggpt.napi.glibc.node');
const skip =
  process.platform !== 'linux'
    ? 'Linux prebuilds only'
    : fs.existsSync(addon)
      ? false
      : `${path.relative(root, addon)} missing: run \`npm run prebuild\` to check the prebuild`;

interface CheckResult {
  failures: string[];
  files: { file: string; maxGlibc: string; needed: string[]; exported: number }[];
}
const check = (d: string): { status: number | null; res: CheckResult } => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-prebuild.mjs'), d, '--json'], { encoding: 'utf8' });
  return { status: r.status, res: JSON.parse(r.stdout) };
};

t.test('readelf checks pass', { skip }, async (t) => {
  const { status, res } = check(dir);
  t.same(res.failures, [], 'no failures');
  t.equal(status, 0);
  t.ok(
    res.files.some((f) => f.file.startsWith('libggml-cpu-')),
    'CPU variant modules are there',
  );
  for (const f of res.files) {
    t.notOk(
      f.needed.some((n) => /gomp|stdc\+\+/.test(n)),
      `${f.file}: ${f.needed.join(' ')}`,
    );
    if (process.arch === 'x64') {
      const [maj, min] = f.maxGlibc.split('.').map(Number);
      t.ok(maj < 2 || (maj === 2 && min <= 28), `${f.file}: GLIBC_${f.maxGlibc} <= 2.28`);
    }
  }
});

// the checker must see what a local (-march=native, static) build does not meet
const local = path.join(root, 'build', 'Release', 'groundinggpt.node');
t.test('the checker flags a local build', { skip: skip || (fs.existsSync(local) ? false : 'no local build in build/Release') }, async (t) => {
  const d = tempDir('ggpt-check-local-');
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.copyFileSync(local, path.join(d, 'groundinggpt.node'));
  const { status, res } = check(d);
  t.equal(status, 1);
  t.ok(
    res.failures.some((f) => /exports \d+ symbols besides/.test(f)),
    'extra exports reported',
  );
});

// a folder without an addon is a reported failure, not a readelf error on the folder itself
t.test('the checker reports a folder with no .node file', { skip: process.platform !== 'linux' ? 'Linux prebuilds only' : false }, async (t) => {
  const d = tempDir('ggpt-check-empty-');
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const { status, res } = check(d);
  t.equal(status, 1);
  t.same(res.failures, [`${d}: no .node file`]);
});

t.test('greedy tokens of the tiny golden model through the prebuild', { skip }, async (t) => {
  const { llm } = await tinyConverted();
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'prebuild-smoke.mjs'), '--addon', addon, '--llm', llm], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  t.equal(r.status, 0, r.stderr.slice(-2000));
  const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
  t.ok(res.logitsWithinTolerance, `logits max |diff| ${res.logitsMaxAbsDiff}`);
  t.ok(res.comparedTokens > 0);
  t.same(res.tokens.slice(0, res.comparedTokens), res.expected.slice(0, res.comparedTokens));
});

t.test('node-gyp-build picks it on glibc and refuses it on musl', { skip }, async (t) => {
  // a package folder with only the prebuild (no build/Release that would be preferred)
  const pkg = tempDir('ggpt-ngb-');
  t.teardown(() => fs.rmSync(pkg, { recursive: true, force: true }));
  fs.mkdirSync(path.join(pkg, 'prebuilds'));
  fs.symlinkSync(dir, path.join(pkg, 'prebuilds', path.basename(dir)));
  const find = (libc: string) =>
    spawnSync(process.execPath, ['-e', 'console.log(require("node-gyp-build").path(process.argv[1]))', pkg], {
      cwd: root,
      env: { ...process.env, LIBC: libc },
      encoding: 'utf8',
    });
  const glibc = find('glibc');
  t.equal(glibc.status, 0, glibc.stderr);
  t.equal(fs.realpathSync(glibc.stdout.trim()), fs.realpathSync(addon));
  const musl = find('musl');
  t.not(musl.status, 0);
  t.match(musl.stderr, /No native build was found for .*libc=musl/);
});

// The cross-built arm64 prebuild (npm run prebuild -- --arch arm64): readelf reads any architecture,
// so its checks run here too; loading it needs qemu (scripts/arm64-check.sh, by hand).
const arm64 = path.join(root, 'prebuilds', 'linux-arm64');
t.test(
  'linux-arm64 prebuild: readelf checks pass (glibc <= 2.28 through native/compat/glibc_compat.c)',
  { skip: fs.existsSync(path.join(arm64, 'groundinggpt.napi.glibc.node')) ? false : 'prebuilds/linux-arm64 missing: npm run prebuild -- --arch arm64' },
  async (t) => {
    const { status, res } = check(arm64);
    t.same(res.failures, [], 'no failures');
    t.equal(status, 0);
    t.ok(res.files.filter((f) => f.file.startsWith('libggml-cpu-armv')).length >= 3, 'the armv8.0 / 8.2 / 8.6 CPU variants');
    for (const f of res.files) {
      const [maj, min] = f.maxGlibc.split('.').map(Number);
      t.ok(maj < 2 || (maj === 2 && min <= 28), `${f.file}: GLIBC_${f.maxGlibc} <= 2.28`);
    }
  },
);
