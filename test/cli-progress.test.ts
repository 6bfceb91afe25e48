// The CLI's progress output (src/cli-bars.ts) and help texts (src/cli-options.ts): bars on a
// terminal (a stream that says it is a TTY, and the real bin under `script`'s pseudo-terminal),
// plain lines elsewhere, nothing with --json; pull's per-file and overall lines; every command's
// help generated from the option table, each option once, the load options wherever a model loads.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { progressBar, progressMode, pullProgress, stageProgress, stopAllBars, type ProgressStream } from '../src/cli-bars';
import { COMMANDS } from '../src/cli';
import { LOAD_OPTION_NAMES, OPTION_TABLE, optionsHelp } from '../src/cli-options';
import type { PullProgress } from '../src/pull/index';
import { mediaDir } from './helpers/golden';
import { riggedModel } from './helpers/rigged';

const root = path.resolve(__dirname, '..');

/** A stream that collects what is written; `tty` makes it look like a terminal to cli-progress. */
function sink(tty: boolean): { stream: ProgressStream; text(): string } {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  if (tty) {
    s.isTTY = true;
    s.columns = 120;
  }
  return { stream: s, text: () => text };
}
const ESC = String.fromCharCode(27);
/** Text without terminal escapes. */
const plain = (s: string) => s.replace(new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]|${ESC}[78]`, 'g'), '');
const controls = (s: string) => s.includes('\r') || s.includes(ESC);
const tick = () => new Promise((r) => setImmediate(r));

t.test('progressMode: bar on a terminal, lines off one, none with --json', async (t) => {
  t.equal(progressMode(false, sink(true).stream), 'bar');
  t.equal(progressMode(false, sink(false).stream), 'lines');
  t.equal(progressMode(true, sink(true).stream), 'none');
});

t.test('progressBar: a line per 10 % off a terminal, a cli-progress bar on one, nothing with none', async (t) => {
  const lines = sink(false);
  const p = progressBar('convert', 'lines', lines.stream);
  for (let i = 0; i <= 100; i++) p.update(i / 100, `step ${i}`);
  p.end();
  await tick();
  const got = lines.text().trim().split('\n');
  t.equal(got.length, 11, '0, 10, ... 100 %');
  t.match(got[0], /^convert +0% +0s +step 0$/);
  t.match(got.at(-1), /^convert 100% +\d+s +step 100$/);
  t.notOk(controls(lines.text()), 'no control characters');

  const term = sink(true);
  const b = progressBar('image tower', 'bar', term.stream);
  b.update(0.25, 'a');
  b.update(1, 'b');
  b.end();
  await tick();
  t.ok(term.text().includes(ESC), 'drawn with terminal escapes');
  t.match(plain(term.text()), /image tower █+ 100% \| +\d+s \| b/);
  t.ok(term.text().endsWith('\n'), 'the finished bar stays, the next output starts on a new line');

  const none = sink(true);
  const n = progressBar('x', 'none', none.stream);
  n.update(0.5);
  n.end();
  await tick();
  t.equal(none.text(), '');
});

t.test('stopAllBars stops a bar an error left running (its timer would keep the process alive)', async (t) => {
  const term = sink(true);
  const b = progressBar('prompt', 'bar', term.stream);
  b.update(0.4);
  stopAllBars();
  await tick();
  const before = term.text();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(term.text(), before, 'no redraw after stopAllBars');
  t.match(plain(before), /prompt .* 40%/);
});

t.test('stageProgress: decode, tower load, tower and prompt each reach 100 %, generation closes the bar', async (t) => {
  for (const mode of ['lines', 'bar', 'none'] as const) {
    const out = sink(mode === 'bar');
    const { onProgress: on } = stageProgress(mode, out.stream);
    for (const f of [0, 0.5, 1]) on({ stage: 'decode', media: 'image', fraction: f });
    for (const f of [0, 0.5, 1]) on({ stage: 'load', media: 'image', fraction: f });
    for (const f of [0, 0.3, 0.7, 1]) on({ stage: 'encode', media: 'image', fraction: f });
    for (const f of [0, 1]) on({ stage: 'prompt', fraction: f });
    on({ stage: 'generate', fraction: 0 });
    await tick();
    const text = plain(out.text());
    if (mode === 'none') t.equal(text, '', 'none: nothing');
    else for (const s of ['decode image', 'load image tower', 'image tower', 'prompt']) t.match(text, new RegExp(`${s} .*100%`), `${mode}: ${s}`);
  }
});

/** Events as pull() sends them for two files and the conversion, which starts while the second file arrives. */
function pullEvents(): PullProgress[] {
  const a = 3 << 20;
  const b = 1 << 20;
  const ev: PullProgress[] = [
    {
      stage: 'plan',
      plan: {
        name: 'groundinggpt-7b',
        type: 'f16',
        repos: [{ repo: 'zwli/GroundingGPT', revision: 'main', commit: 'c'.repeat(40) }],
        files: [],
        totalBytes: a + b,
        downloadBytes: a + b,
        hfCache: '/hf',
        dir: '/models/x',
        licences: [{ part: 'LLM', licence: 'LLaMA 2 Community License' }],
      } as unknown as PullProgress['plan'],
    },
  ];
  for (let i = 0; i <= 10; i++)
    ev.push({
      stage: 'download',
      file: 'zwli/GroundingGPT/model.bin',
      fileBytes: (a * i) / 10,
      fileTotal: a,
      bytes: (a * i) / 10,
      total: a + b,
      rate: 1 << 20,
      eta: 4 - i / 3,
    });
  ev.push({ stage: 'retry', message: 'retrying clip/model.bin (HTTP 503) in 1 s' });
  ev.push({ stage: 'convert', convert: { stage: 'open', fraction: 0 } as PullProgress['convert'] });
  for (let i = 0; i <= 4; i++)
    ev.push({
      stage: 'download',
      file: 'openai/clip/model.bin',
      fileBytes: (b * i) / 4,
      fileTotal: b,
      bytes: a + (b * i) / 4,
      total: a + b,
      rate: 1 << 20,
      eta: 1 - i / 4,
    });
  for (const f of [0, 0.5, 1]) ev.push({ stage: 'convert', convert: { stage: f < 1 ? 'llm' : 'done', fraction: f } as PullProgress['convert'] });
  ev.push({ stage: 'done' });
  return ev;
}

t.test('pullProgress: plan, per-file and overall bytes/rate/ETA, retries, conversion', async (t) => {
  const lines = sink(false);
  const lp = pullProgress(false, lines.stream);
  for (const e of pullEvents()) lp.onProgress(e);
  lp.end();
  await tick();
  const text = lines.text();
  t.match(text, /pulling groundinggpt-7b:f16 from zwli\/GroundingGPT@main/);
  t.match(text, /LLaMA 2 Community License/);
  t.match(text, /^download +\d+% .*MiB \/ 4\.0 MiB +1\.0 MiB\/s +ETA \d+s$/m, 'overall bytes, rate, time left');
  t.match(text, /^downloaded zwli\/GroundingGPT\/model\.bin \(3\.0 MiB/m, 'each file when it is complete');
  t.match(text, /^downloaded openai\/clip\/model\.bin \(1\.0 MiB/m);
  t.match(text, /^retrying clip\/model\.bin/m);
  t.match(text, /^convert 100%/m);
  t.equal(text.match(/^download +0%/gm)?.length, 1, 'the download lines go on after the conversion started');
  t.notOk(controls(text), 'no control characters');

  const term = sink(true);
  const bp = pullProgress(false, term.stream);
  for (const e of pullEvents()) bp.onProgress(e);
  bp.end();
  await tick();
  const drawn = plain(term.text());
  t.match(drawn, /all files .* 100% \| 4\.0 MiB \/ 4\.0 MiB \| 1\.0 MiB\/s \| done/, 'the overall bar');
  t.match(drawn, /zwli\/GroundingGPT\/model\.bin .* 100% \| 3\.0 MiB \/ 3\.0 MiB/, 'a bar per file');
  t.match(drawn, /openai\/clip\/model\.bin .* 100% \| 1\.0 MiB \/ 1\.0 MiB/);
  t.match(drawn, /retrying clip\/model\.bin/);
  t.match(drawn, /convert .* 100% \| done/);

  const json = sink(true);
  const jp = pullProgress(true, json.stream);
  const events = pullEvents();
  for (const e of events) jp.onProgress(e);
  jp.end();
  await tick();
  t.same(
    json
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    JSON.parse(JSON.stringify(events)),
    '--json: every event as a JSON line, nothing else',
  );
});

t.test('help texts: from the option table, each option once, load options on every model-loading command', async (t) => {
  for (const [name, c] of Object.entries(COMMANDS)) {
    const opts = [...c.usage.matchAll(/^ {2}--([\w<>-]+)/gm)].map((m) => m[1]);
    t.same(opts, [...new Set(opts)], `${name}: no option listed twice`);
  }
  for (const name of ['image', 'video', 'audio', 'chat', 'eval', 'serve']) {
    for (const o of LOAD_OPTION_NAMES) t.match(COMMANDS[name].usage, new RegExp(`^ {2}--${o} `, 'm'), `${name} --${o}`);
  }
  // the shared wording comes from the table (one place): e.g. --gpu-layers' first line
  const gpu = OPTION_TABLE['gpu-layers'].help.split('\n')[0];
  for (const name of ['image', 'chat', 'eval', 'serve']) t.ok(COMMANDS[name].usage.includes(gpu), `${name}: --gpu-layers from the table`);
  t.match(optionsHelp(['seed']), /^ {2}--seed <n> +sampling seed$/);
  t.throws(() => optionsHelp(['seed', 'seed']), /listed twice/);
  t.throws(() => optionsHelp(['nope']), /no option "nope"/);
});

const cli = path.join(root, 'lib', 'cli.js');
const script = spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).stdout.trim();
t.test(
  'the bin on a pseudo-terminal draws a bar; piped, plain lines',
  { skip: !fs.existsSync(cli) ? 'lib/ not built' : !script ? 'no `script` (util-linux) for a pseudo-terminal' : false },
  async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ggpt-clibar-'));
    t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
    const cmd = `'${process.execPath}' '${cli}' synth --preset tiny --out '${path.join(out, 'a')}' --type f32`;
    const tty = spawnSync(script, ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, COLUMNS: '100' } });
    t.equal(tty.status, 0, tty.stderr);
    t.match(plain(tty.stdout), /synth █+ 100% \| +\d+s \| done/, 'a cli-progress bar on the terminal');
    const piped = spawnSync(process.execPath, [cli, 'synth', '--preset', 'tiny', '--out', path.join(out, 'b'), '--type', 'f32'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    t.equal(piped.status, 0, piped.stderr);
    t.match(piped.stderr, /^synth 100%/m);
    t.notOk(controls(piped.stderr), 'no control characters');
  },
);

t.test(
  'image on a pseudo-terminal: a bar per stage on stderr, then the answer streamed, boxes listed',
  { skip: !fs.existsSync(cli) ? 'lib/ not built' : !script ? 'no `script` (util-linux) for a pseudo-terminal' : false },
  async (t) => {
    const model = await riggedModel([' The', ' dog', ' [0.20, 0.10, 0.70, 0.90]', '.']);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ggpt-clibar-home-'));
    t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
    const cmd = `'${process.execPath}' '${cli}' image '${path.join(mediaDir, 'dog_image.jpg')}' 'Where is the dog?' --model '${model}' --threads 2`;
    const r = spawnSync(script, ['-qec', cmd, '/dev/null'], {
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, COLUMNS: '100', GROUNDINGGPT_HOME: home },
    });
    t.equal(r.status, 0, r.stdout);
    const text = plain(r.stdout);
    for (const s of ['decode image', 'image tower', 'prompt']) t.match(text, new RegExp(`${s} █+ 100%`), `${s}: a bar reaching 100 %`);
    t.match(text, /prompt █+ 100%[^\n]*\r?\nThe dog \[0\.20, 0\.10, 0\.70, 0\.90\]\./, 'the answer starts on its own line after the last bar');
    t.match(text, /box 0: The dog/);
  },
);
