// The `groundinggpt` command: subcommand table, exit codes, convert and synth end to end.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { COMMANDS, main } from '../src/cli';
import { tempDir, tinyDir } from './helpers/golden';

const root = path.resolve(__dirname, '..');
const work = tempDir('ggpt-cli-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

/** Runs main() with stdout/stderr captured. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, out, err };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}

t.test('help, unknown commands and options', async (t) => {
  t.ok('convert' in COMMANDS && 'synth' in COMMANDS);
  let r = await run([]);
  t.equal(r.code, 2);
  t.match(r.out, /commands:\n\s+convert\s+convert a GroundingGPT checkpoint/);
  r = await run(['help']);
  t.equal(r.code, 0);
  r = await run(['frobnicate']);
  t.equal(r.code, 2);
  t.match(r.err, /unknown command "frobnicate"/);
  r = await run(['convert', '--model', 'x']);
  t.equal(r.code, 2);
  t.match(r.err, /--clip is required/);
  r = await run(['convert', '--model', 'x', '--clip', 'y', '--out', 'z', '--threads', 'two']);
  t.equal(r.code, 2);
  r = await run(['synth', '--preset', 'tiny', '--out', path.join(work, 's'), '--bogus']);
  t.equal(r.code, 2);
  t.match(r.err, /Unknown option '--bogus'/);
  r = await run(['convert', '--help']);
  t.equal(r.code, 0);
  t.match(r.out, /--heads-<tower>/);
});

t.test('convert: errors exit 1 with the typed message, nothing written', async (t) => {
  const out = path.join(work, 'bad');
  const r = await run(['convert', '--model', path.join(work, 'missing'), '--clip', path.join(tinyDir, 'clip'), '--out', out]);
  t.equal(r.code, 1);
  t.match(r.err, /error \[CONVERSION\]: .*missing: no such checkpoint/);
  t.notOk(fs.existsSync(out));
});

t.test('convert and synth end to end (in process)', async (t) => {
  const out = path.join(work, 'conv');
  let r = await run([
    'convert',
    '--model',
    path.join(tinyDir, 'groundinggpt'),
    '--clip',
    path.join(tinyDir, 'clip'),
    '--out',
    out,
    '--type',
    'f32',
    '--heads-eva',
    '4',
  ]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /wrote .*llm\.gguf/);
  t.match(r.err, /convert 100%/, 'progress printed');
  t.same(fs.readdirSync(out).sort(), ['encoders.gguf', 'llm.gguf', 'manifest.json']);
  const s = path.join(work, 'synth');
  r = await run(['synth', '--preset', 'tiny', '--out', s, '--type', 'f32', '--seed', '3']);
  t.equal(r.code, 0, r.err);
  t.equal(JSON.parse(fs.readFileSync(path.join(s, 'manifest.json'), 'utf8')).synthetic.seed, 3);
});

const cli = path.join(root, 'lib', 'cli.js');
t.test('the built bin (lib/cli.js) runs', { skip: fs.existsSync(cli) ? false : 'lib/ not built (npm run compile:ts)' }, async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  t.equal(pkg.bin.groundinggpt, 'lib/cli.js');
  t.match(fs.readFileSync(cli, 'utf8'), /^#!\/usr\/bin\/env node\n/, 'shebang');
  const p = spawnSync(process.execPath, [cli, 'synth', '--preset', 'tiny', '--out', path.join(work, 'bin'), '--type', 'f16'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  t.equal(p.status, 0, p.stderr);
  t.ok(fs.existsSync(path.join(work, 'bin', 'llm.gguf')));
  const bad = spawnSync(process.execPath, [cli, 'convert'], { encoding: 'utf8' });
  t.equal(bad.status, 2);
});

t.test('help <command> for every command; build: its options, bad combinations are usage errors', async (t) => {
  for (const name of Object.keys(COMMANDS)) {
    const r = await run(['help', name]);
    t.equal(r.code, 0, `help ${name}`);
    t.match(r.out, new RegExp(`^groundinggpt ${name}\\b`), `help ${name} prints its usage`);
    t.equal((await run([name, '--help'])).out, r.out, `${name} --help says the same`);
  }
  let r = await run(['help', 'build']);
  t.match(r.out, /--cuda\s/);
  t.match(r.out, /--cuda-architectures <list>/);
  t.match(r.out, /cache folder/);
  r = await run(['build', '--cuda-architectures', '86']);
  t.equal(r.code, 2);
  t.match(r.err, /--cuda-architectures needs --cuda/);
  r = await run(['build', '--cuda', '--cuda-architectures', '86 $(x)']);
  t.equal(r.code, 2);
  t.match(r.err, /takes a list such as "86;89"/);
  r = await run(['build', '--jobs', 'many']);
  t.equal(r.code, 2);
});
