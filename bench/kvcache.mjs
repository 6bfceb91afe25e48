#!/usr/bin/env node
// KV cache on disk (issue 20, part 2): time to first token for a media question in a fresh process,
// the first time (cache empty: tower + media prefill) against the next time (a new process, the
// media prefix's KV state read from kvCacheDir). Model load is not counted: TTFT runs from the
// grounding call to its first token.
//
//   node bench/kvcache.mjs --model /work/models/synth-7b-q4km [--media image|video|audio] [--reps 3]
//
// Each round: empty the cache folder, run a child process (load, ask, exit) = cold, then a second
// child asking a different question about the same file = warm. Ratio warm / cold per round.
// The snapshot file is in the page cache for the warm run (it was just written); a cold disk adds
// its read time (size printed) at the disk's speed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fail, goldenMedia, memory, parseArgs, pm, runInfo, stats, table, writeResult } from './common.mjs';

const require = createRequire(import.meta.url);

const usage = `usage: node bench/kvcache.mjs --model <dir> [--media image|video|audio] [--file <media file>] [--reps 3]
  [--threads 2] [--max-tokens 8] [--max-frames 64] [--cache-dir <dir>]`;
const a = parseArgs(
  {
    model: '',
    media: 'image',
    file: '',
    reps: 3,
    threads: 2,
    maxTokens: 8,
    maxFrames: 64,
    cacheDir: path.join(os.tmpdir(), 'groundinggpt-bench-kvcache'),
    child: '',
  },
  usage,
);
if (!a.model) fail(usage);
const defaults = { image: 'test-1.jpeg', video: 'test-3.mp4', audio: 'dog_audio.wav' };
if (!(a.media in defaults)) fail(`--media must be image, video or audio\n${usage}`);
const file = a.file || path.join(goldenMedia, defaults[a.media]);
const questions = ['Where is the dog? Answer with a box.', 'What is happening? Give the positions.'];

if (a.child) {
  // One fresh process: load with the cache folder, ask once, print a JSON line.
  const { loadModel } = require('../lib/index.js');
  const t0 = performance.now();
  const model = await loadModel({ model: a.model, threads: a.threads, kvCacheDir: a.cacheDir, featureCacheBytes: 0 });
  const loadMs = performance.now() - t0;
  const question = questions[Number(a.child) - 1];
  let ttftMs = NaN;
  const t1 = performance.now();
  const o = {
    maxTokens: a.maxTokens,
    onToken: () => {
      if (Number.isNaN(ttftMs)) ttftMs = performance.now() - t1;
    },
  };
  const call = { image: 'groundImage', video: 'groundVideo', audio: 'groundAudio' }[a.media];
  const r = await model[call](file, question, a.media === 'video' ? { ...o, maxFrames: a.maxFrames } : o);
  const wallMs = performance.now() - t1;
  await model.dispose();
  console.log(JSON.stringify({ loadMs, ttftMs, wallMs, timings: r.timings, rssPeakMiB: memory().hwmMiB }));
  process.exit(0);
}

function child(k) {
  const args = [path.resolve(import.meta.dirname, 'kvcache.mjs'), '--child', String(k)];
  for (const key of ['model', 'media', 'threads', 'maxTokens', 'maxFrames', 'cacheDir']) {
    args.push(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(a[key]));
  }
  args.push('--file', file);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) fail(`child ${k} failed (${r.status}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop();
  return JSON.parse(line);
}

function cacheBytes() {
  if (!fs.existsSync(a.cacheDir)) return 0;
  let n = 0;
  for (const f of fs.readdirSync(a.cacheDir, { recursive: true })) {
    const st = fs.statSync(path.join(a.cacheDir, f));
    if (st.isFile()) n += st.size;
  }
  return n;
}

const info = await runInfo({ bench: 'kvcache', args: a, file });
const rows = [];
for (let round = 0; round < a.reps; round++) {
  fs.rmSync(a.cacheDir, { recursive: true, force: true });
  const cold = child(1);
  const bytes = cacheBytes();
  const warm = child(2);
  rows.push({ cold, warm, bytes, ratio: warm.ttftMs / cold.ttftMs });
  console.error(
    `round ${round + 1}: cold TTFT ${cold.ttftMs.toFixed(0)} ms (encode ${cold.timings.encodeMs?.toFixed(0)} ms, prompt ${cold.timings.promptMs.toFixed(0)} ms), ` +
      `warm ${warm.ttftMs.toFixed(0)} ms (reused ${warm.timings.reusedTokens}), cache ${(bytes / 2 ** 20).toFixed(1)} MiB, ratio ${(warm.ttftMs / cold.ttftMs).toFixed(3)}`,
  );
}
const cold = stats(rows.map((r) => r.cold.ttftMs));
const warm = stats(rows.map((r) => r.warm.ttftMs));
const ratio = stats(rows.map((r) => r.ratio));
table(
  ['media', 'cold TTFT ms', 'warm TTFT ms', 'warm / cold', 'snapshot MiB', 'load ms (cold)', 'peak RSS MiB (cold / warm)'],
  [
    [
      a.media,
      pm(cold, 0),
      pm(warm, 0),
      pm(ratio, 3),
      (rows[0].bytes / 2 ** 20).toFixed(1),
      pm(stats(rows.map((r) => r.cold.loadMs)), 0),
      `${Math.max(...rows.map((r) => r.cold.rssPeakMiB)).toFixed(0)} / ${Math.max(...rows.map((r) => r.warm.rssPeakMiB)).toFixed(0)}`,
    ],
  ],
);
console.log(`result: ${writeResult('kvcache', { info, rows })}`);
fs.rmSync(a.cacheDir, { recursive: true, force: true });
