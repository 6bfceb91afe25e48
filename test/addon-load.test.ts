// A missing or unloadable native addon is a typed AddonLoadError that says what to run, not a raw
// require() failure: an explicit path that does not exist, a file that is not an addon, and a
// package copy without build/Release or prebuilds (what `npm install --ignore-scripts` leaves).
// Each case runs in a child Node process (the addon is loaded once per process).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers/golden';

const root = path.resolve(__dirname, '..');

function run(script: string, env: Record<string, string>, cwd = root): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['-e', script], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// prints the error's class, reason and message as JSON
const probe = (lib: string) => `
const g = require(${JSON.stringify(lib)});
g.loadModel({ model: ${JSON.stringify(path.join(root, 'package.json'))} }).then(
  () => console.log(JSON.stringify({ ok: true })),
  (e) => console.log(JSON.stringify({ name: e.name, code: e.code, reason: e.reason, instance: e instanceof g.AddonLoadError, message: e.message })));`;

function result(out: string): { name?: string; code?: string; reason?: string; instance?: boolean; message?: string } {
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line);
}

t.test('GROUNDINGGPT_ADDON naming a file that does not exist', async (t) => {
  const r = result(run(probe(path.join(root, 'lib', 'index.js')), { GROUNDINGGPT_ADDON: '/nonexistent/groundinggpt.node' }).out);
  t.match(r, { name: 'AddonLoadError', code: 'ADDON_LOAD', reason: 'missing', instance: true });
  t.match(r.message, /\/nonexistent\/groundinggpt\.node does not exist/);
});

t.test('a file that is not an addon', async (t) => {
  const dir = tempDir();
  const bogus = path.join(dir, 'bogus.node');
  fs.writeFileSync(bogus, 'not an ELF file');
  const r = result(run(probe(path.join(root, 'lib', 'index.js')), { GROUNDINGGPT_ADDON: bogus }).out);
  t.match(r, { name: 'AddonLoadError', reason: 'incompatible', instance: true });
  t.match(r.message, /cannot be loaded on/);
});

t.test('setAddonPath() before the first load', async (t) => {
  const script = `
const g = require(${JSON.stringify(path.join(root, 'lib', 'index.js'))});
g.setAddonPath('/nonexistent/other.node');
g.loadModel({ model: ${JSON.stringify(path.join(root, 'package.json'))} }).catch((e) => console.log(JSON.stringify({ name: e.name, reason: e.reason, message: e.message })));`;
  const r = result(run(script, {}).out);
  t.match(r, { name: 'AddonLoadError', reason: 'missing' });
  t.match(r.message, /other\.node does not exist/);
});

t.test('a package without build/Release or prebuilds (install scripts skipped)', async (t) => {
  const dir = tempDir();
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  const r = result(run(probe(path.join(dir, 'lib', 'index.js')), { NODE_PATH: path.join(root, 'node_modules'), GROUNDINGGPT_ADDON: '' }, dir).out);
  t.match(r, { name: 'AddonLoadError', reason: 'missing', instance: true });
  t.match(r.message, /No groundinggpt addon for linux|No groundinggpt addon for \w+-\w+/);
  t.match(r.message, /npm rebuild groundinggpt/, 'says what to run');
});
