// evaluate() and `groundinggpt eval` end to end on fixture datasets in the standard layouts
// (test/helpers/eval-fixtures.ts) and a rigged tiny model whose greedy answer is fixed, so every
// score is known in advance: RefCOCO 2 of 3 on val, Charades-STA IoUs 1 / 0.6 / 0, VGG-SS cIoUs
// 1 / 0 / 0.25. Then answers without a box, failed calls, --resume and the CLI.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvalidInputError } from '../src/errors';
import { evaluate, type EvalProgress } from '../src/eval/run';
import { loadModel } from '../src/load';
import type { Model } from '../src/model';
import type { EvalRecord } from '../src/eval/summary';
import { tempDir } from './helpers/golden';
import { RIGGED_PIECES, makeCharades, makeRefcoco, makeVggss } from './helpers/eval-fixtures';
import { riggedModel } from './helpers/rigged';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'lib', 'cli.js');
const ANSWER = 'The dog [0.25, 0.25, 0.75, 0.75] barks {0.20, 0.60}.';
const near = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-9);
const readJsonl = (file: string): EvalRecord[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

let model: string;
t.before(async () => {
  model = await riggedModel(RIGGED_PIECES);
});

t.test('refcoco: Acc@0.5 per split, exactly (parallel 2, JSONL, progress)', async (t) => {
  const { data } = await makeRefcoco();
  const out = path.join(tempDir(), 'refcoco.jsonl');
  const progress: EvalProgress[] = [];
  const s = await evaluate({ task: 'refcoco', data, model, out, parallel: 2, onProgress: (p) => progress.push(p) });
  t.same(
    s.splits.map((x) => [x.split, x.samples, x.metrics['Acc@0.5'], x.paper['Acc@0.5'], x.unparsed, x.errors]),
    [
      ['val', 3, 66.67, 88.02, 0, 0],
      ['testA', 1, 100, 91.55, 0, 0],
      ['testB', 1, 0, 82.47, 0, 0],
    ],
  );
  t.match(s.model, /rigged|llm\.gguf/);
  t.equal(progress.length, 5);
  t.same(progress.at(-1) && [progress.at(-1)?.done, progress.at(-1)?.total, progress.at(-1)?.hits, progress.at(-1)?.etaMs], [5, 5, 3, 0]);

  const records = readJsonl(out);
  t.same(records.map((r) => r.id).sort(), ['10:1000', '10:1001', '11:1002', '12:1003', '13:1004']);
  const byId = new Map(records.map((r) => [r.id, r]));
  const square = byId.get('10:1000') as EvalRecord;
  t.equal(square.text?.trim(), ANSWER, 'the raw text');
  t.ok(near(square.prediction ?? [], [50, 50, 150, 150]), '200 x 200 image: [0.25, 0.75] of 200');
  t.same(square.gt, [50, 50, 150, 150], 'COCO [x, y, w, h] -> corners');
  t.same([square.iou, square.hit], [1, true]);
  t.equal(square.prompt, 'Please provide the bounding box coordinate of the region this sentence describes: the blue square middle.');
  const dog = byId.get('12:1003') as EvalRecord;
  // x = 0.25 * 848 - 104 (padding offset), y = 0.25 * 848 (docs/COMPUTATION.md §6)
  t.ok(near(dog.prediction ?? [], [108, 212, 532, 636]), `the dog box in pixels: ${dog.prediction}`);
  t.ok(Math.abs(dog.iou - 412 / 424) < 1e-9);
  t.same([byId.get('11:1002')?.iou, byId.get('11:1002')?.hit], [0, false]);
  t.equal(byId.get('11:1002')?.prompt, "Please provide the bounding box coordinate of the region this sentence describes: top left 'corner'.");
});

t.test('a loaded Model with parallel 2: two calls in flight, the same scores', async (t) => {
  const { data } = await makeRefcoco();
  const loaded = await loadModel({ model, parallel: 2 });
  t.teardown(() => loaded.dispose());
  // a view of the model that counts the calls in flight (evaluate only calls groundImage, info, files)
  let inFlight = 0;
  let most = 0;
  const spy = Object.create(loaded) as Model;
  Object.defineProperty(spy, 'info', { get: () => loaded.info });
  spy.groundImage = async (...args: Parameters<Model['groundImage']>) => {
    most = Math.max(most, ++inFlight);
    try {
      return await loaded.groundImage(...args);
    } finally {
      inFlight--;
    }
  };
  const s = await evaluate({ task: 'refcoco', data, model: spy, parallel: 4 });
  t.equal(most, 2, "at most the model's own parallel (2), and that many");
  t.same(
    s.splits.map((x) => x.metrics['Acc@0.5']),
    [66.67, 100, 0],
  );
  t.notOk(loaded.disposed, 'a model passed in is not disposed');
});

t.test('charades-sta: R@1 at 0.3 / 0.5 / 0.7 and mIoU, exactly', async (t) => {
  const { file } = makeCharades();
  const s = await evaluate({ task: 'charades-sta', data: file, model, parallel: 2 });
  t.equal(s.splits.length, 1);
  t.same(s.splits[0].metrics, { 'R@1 IoU=0.3': 66.67, 'R@1 IoU=0.5': 66.67, 'R@1 IoU=0.7': 33.33, mIoU: 53.33 });
  t.same(s.splits[0].paper, { 'R@1 IoU=0.5': 29.6, 'R@1 IoU=0.7': 11.9 });
  t.same(s.prompt, 'When does "{query}" happen in the video?');
});

t.test('vggss: cIoU hit rate and AUC, exactly (frames + wavs, and a clip: middle frame + audio track)', async (t) => {
  const { file } = await makeVggss();
  const records: EvalRecord[] = [];
  const s = await evaluate({ task: 'vggss', data: file, model, onRecord: (r) => records.push(r) });
  t.same(s.splits[0].metrics, { 'cIoU@0.5': 33.33, AUC: 43.33 });
  const byId = new Map(records.map((r) => [r.id, r]));
  t.equal(byId.get('dog')?.iou, 1);
  t.equal(byId.get('sq')?.iou, 0.25);
  const clip = byId.get('clip') as EvalRecord;
  t.equal(clip.error, undefined);
  // the middle frame is 320 x 240: padded to 320, offset (0, 40)
  t.ok(near(clip.prediction ?? [], [0.25, (80 - 40) / 240, 0.75, (240 - 40) / 240]), `clip box as fractions of the frame: ${clip.prediction}`);
  t.equal(clip.iou, 0);
});

t.test('answers without a box, failed calls, resume', async (t) => {
  const silent = await riggedModel([' I', ' am', ' not', ' sure']);
  const { data } = await makeRefcoco();
  const out = path.join(tempDir(), 'nobox.jsonl');
  const first = await evaluate({ task: 'refcoco', data, model: silent, out, limit: 1 });
  t.same(
    first.splits.map((x) => [x.split, x.samples, x.unparsed]),
    [
      ['val', 1, 1],
      ['testA', 1, 1],
      ['testB', 1, 1],
    ],
  );
  t.equal(readJsonl(out)[0].prediction, null);

  await t.rejects(evaluate({ task: 'refcoco', data, model: silent, out }), { constructor: InvalidInputError, message: /exists: pass resume/ });
  await t.rejects(evaluate({ task: 'refcoco', data, model: silent, out, resume: true, prompt: 'Find {expression}' }), {
    constructor: InvalidInputError,
    message: /another prompt/,
  });
  await t.rejects(evaluate({ task: 'charades-sta', data: makeCharades().file, model: silent, out, resume: true }), {
    constructor: InvalidInputError,
    message: /refcoco record, not charades-sta/,
  });

  // an interrupted write left half a line: it is cut off and that sample runs again
  fs.appendFileSync(out, '{"task":"refcoco","split":"val","id":"10:10');
  const progress: EvalProgress[] = [];
  const second = await evaluate({ task: 'refcoco', data, model: silent, out, resume: true, onProgress: (p) => progress.push(p) });
  t.same([progress.at(-1)?.done, progress.at(-1)?.total, progress.at(-1)?.resumed], [2, 2, 3], 'only the 2 samples not in the file ran');
  const records = readJsonl(out);
  t.equal(records.length, 5, 'no duplicate, no broken line');
  t.equal(new Set(records.map((r) => r.id)).size, 5);
  t.same(
    second.splits.map((x) => [x.split, x.samples, x.metrics['Acc@0.5'], x.unparsed]),
    [
      ['val', 3, 0, 3],
      ['testA', 1, 0, 1],
      ['testB', 1, 0, 1],
    ],
  );
  t.equal(second.unparsed.length, 5);

  // an image that cannot be decoded: that call fails, is recorded and counts as a miss
  const dogFile = path.join(data, 'images', 'mscoco', 'images', 'train2014', 'COCO_train2014_000000000002.jpg');
  fs.writeFileSync(dogFile, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 7)]));
  const third = await evaluate({ task: 'refcoco', data, model, split: ['testA', 'val'] });
  t.same(
    third.splits.map((x) => [x.split, x.samples, x.metrics['Acc@0.5'], x.errors]),
    [
      ['testA', 1, 0, 1],
      ['val', 3, 66.67, 0],
    ],
  );
  t.equal(third.errors[0].id, '12:1003');
  // missing media are listed before anything runs
  fs.rmSync(dogFile);
  await t.rejects(evaluate({ task: 'refcoco', data, model }), { constructor: InvalidInputError, message: /1 media file\(s\) missing[\s\S]*000000000002\.jpg/ });
});

t.test('bad options are InvalidInputError', async (t) => {
  await t.rejects(evaluate({ task: 'coco' as 'refcoco', data: '.', model }), InvalidInputError);
  await t.rejects(evaluate({ task: 'refcoco', data: '.', model, split: 'test' }), { message: /a split of refcoco \(val, testA, testB\)/ });
  await t.rejects(evaluate({ task: 'refcoco', data: '.', model, prompt: 'no slot' }), { message: /must contain \{expression\}/ });
  await t.rejects(evaluate({ task: 'refcoco', data: '.', model, parallel: 0 }), InvalidInputError);
  await t.rejects(evaluate({ task: 'charades-sta', data: path.join(tempDir(), 'none.txt'), model }), InvalidInputError);
});

t.test('groundinggpt eval: Ctrl-C keeps the finished samples, --resume completes them; summary on stdout and next to the JSONL; usage errors', async (t) => {
  if (!fs.existsSync(cli)) throw new Error('lib/cli.js is missing: run `npm run compile` first');
  const run = promisify(execFile);
  const { data } = await makeRefcoco();
  const out = path.join(tempDir(), 'cli.jsonl');
  const env = { ...process.env, GROUNDINGGPT_MODEL: '' };
  // the looping model answers until --max-tokens (about a second a call here): time to interrupt
  const looping = await riggedModel(RIGGED_PIECES, { loop: true });
  const args = ['eval', 'refcoco', '--data', data, '--model', looping, '--out', out, '--parallel', '2', '--split', 'val,testA', '--max-tokens', '60'];
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = once(child, 'exit');
  while (!(fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('\n'))) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  const [code] = await exited;
  t.equal(code, 1, 'an interrupted run fails');
  t.match(stderr, /interrupted: the samples done are in .*cli\.jsonl; run again with --resume/);
  const kept = readJsonl(out).length;
  t.ok(kept >= 1 && kept < 4, `${kept} finished sample(s) kept`);

  const r = await run(process.execPath, [cli, ...args, '--resume', '--json'], { cwd: root, env });
  const s = JSON.parse(r.stdout);
  t.same(
    s.splits.map((x: { split: string; metrics: Record<string, number> }) => [x.split, x.metrics['Acc@0.5']]),
    [
      ['val', 66.67],
      ['testA', 100],
    ],
  );
  t.match(
    r.stderr,
    new RegExp(`refcoco\\s+100%.*${4 - kept}/${4 - kept} \\(\\+${kept} resumed\\).*hit@0\\.5.*ETA`),
    'progress: done/total, resumed, running hit rate, ETA',
  );
  t.same(JSON.parse(fs.readFileSync(out.replace(/\.jsonl$/, '.summary.json'), 'utf8')), s);
  const md = fs.readFileSync(out.replace(/\.jsonl$/, '.summary.md'), 'utf8');
  t.match(md, '| val | 3 | Acc@0.5 | 66.67 | 88.02 |');
  t.match(md, '| testA | 1 | Acc@0.5 | 100.00 | 91.55 |');
  const records = readJsonl(out);
  t.equal(records.length, 4);
  t.equal(new Set(records.map((x) => x.id)).size, 4, 'each sample once');

  // Markdown on stdout; nothing left to run
  const again = await run(process.execPath, [cli, ...args, '--resume'], { cwd: root, env });
  t.match(again.stdout, '| val | 3 | Acc@0.5 | 66.67 | 88.02 |');

  for (const bad of [
    ['eval', 'coco', '--data', data],
    ['eval', 'refcoco', '--data', data, '--split', 'test'],
  ]) {
    const e = await run(process.execPath, [cli, ...bad], { cwd: root, env }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    t.equal(e?.code, 2, `usage error: ${bad.join(' ')}`);
  }
});
